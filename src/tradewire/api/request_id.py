"""`X-Request-ID`: one id per REST request, in the response and in every log record of it.

A client (or the reverse proxy in front) may send its own id; it is kept when it is a plain
token (letters, digits, `.`, `_`, `-`, at most 64), otherwise a new one is made, so a header can
never inject text into the logs. Socket.IO traffic does not pass through here (the transport,
realtime/engine.py, answers `/socket.io/` before the REST app); its log lines carry `sid`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewire.logs import REQUEST_ID

log = logging.getLogger(__name__)

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(header: str | None) -> str:
    """The client's id when it is acceptable, else a new random one (32 hex digits)."""
    if header is not None and _VALID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI middleware (no extra task, so the id reaches everything the request runs,
    including tasks it starts, such as the executor's event listeners)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None
        )
        request_id = request_id_from(header)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        await self.app(scope, receive, send_with_id)
        # Only reached on success. After an exception the id stays set: the app's last-resort
        # error handler runs outside this middleware, in this same context (the request's own
        # task, which ends with it), and its "unhandled error" line should carry the id.
        log.debug(
            "request",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        REQUEST_ID.reset(token)
