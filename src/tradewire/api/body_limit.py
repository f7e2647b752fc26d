"""Request body limits: 413 before a body larger than its route's limit is read.

Pure ASGI middleware in front of the REST app (Socket.IO's long-polling has its own limit in
the transport, realtime/engine.py). A `Content-Length` above the limit is answered at once,
without reading a byte of the body; a chunked body (no `Content-Length`) is counted as it
streams and answered 413 as soon as it passes the limit. Either way the connection is closed
after the answer, so the unread rest is never buffered. A body within its limit is handed to
the app whole (so at most the limit is ever held per request).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewire.api.errors import error_response


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Bytes a request body may have: `auth` for `/api/auth/*` (open to anyone, so small),
    `orders` for `/api/orders`, `default` for every other path."""

    default: int
    auth: int
    orders: int

    def for_path(self, path: str) -> int:
        if path == "/api/auth" or path.startswith("/api/auth/"):
            return self.auth
        if path == "/api/orders" or path.startswith("/api/orders/"):
            return self.orders
        return self.default


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before its body
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it gets here
    return None


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than this endpoint takes ({limit:,} bytes).",
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)
