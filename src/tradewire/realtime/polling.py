"""HTTP long-polling, the ASGI side of an `Engine` (engine.py).

A session's first GET is the handshake; then a GET waits for packets (one at a time per
session: a second one closes the session) and a POST brings packets. A POST body over the
engine's `max_payload` is answered 413 before the rest of it is read (a `Content-Length` over
the limit before any of it), and nothing of it is kept. A request the transport cannot take is
answered with an HTTP status and Engine.IO's error body `{"code", "message"}`, as the
reference server sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from tradewire.realtime.engine import (
    NOOP,
    TOO_MANY_HANDSHAKES,
    Engine,
    EngineSocket,
    HandshakeRequest,
    bad_input_log,
)
from tradewire.realtime.protocol import eio
from tradewire.realtime.protocol.eio import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    PAYLOAD_TOO_LARGE,
    UNKNOWN_SID,
)

Scope = dict[str, Any]
Receive = Any
Send = Any


class Polling:
    """The long-polling requests of one engine's endpoint."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def not_found(self, send: Send) -> None:
        await _respond(send, 404, b"Not Found", "text/plain")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        cors = self._cors_headers(origin, headers.get("host", ""))
        method = scope["method"]
        if method == "OPTIONS":
            await _respond(send, 204, b"", "text/plain", cors)
            return
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        refused = self.engine.check_request(query, headers, "polling")
        if refused is None and not self.engine.accepting:
            refused = 503, BAD_REQUEST
        if refused is not None:
            await _error(send, *refused, cors)
            return
        sid = query.get("sid")
        if sid is None:
            if method != "GET":
                await _error(send, 400, BAD_HANDSHAKE_METHOD, cors)
                return
            retry = self.engine.admit_handshake()
            if retry is not None:
                retry_after = [*cors, (b"retry-after", str(retry).encode())]
                await _error(send, 503, TOO_MANY_HANDSHAKES, retry_after)
                return
            client = scope.get("client")
            request = HandshakeRequest("polling", query, headers, client[0] if client else None)
            await self._answer_poll(self.engine.open_session("polling", request), send, cors)
            return
        socket = self.engine.sockets.get(sid)
        if socket is not None and self.engine.timed_out(socket):
            self.engine.forget(socket)
            socket = None
        if socket is None or socket.transport != "polling" or (socket.closed and method != "GET"):
            await _error(send, 400, UNKNOWN_SID if socket is None else BAD_REQUEST, cors)
            return
        if method == "GET":
            await self._poll(socket, send, cors)
        elif method == "POST":
            await self._push(socket, receive, send, headers, cors)
        else:
            await _error(send, 400, BAD_REQUEST, cors)

    async def _poll(
        self, socket: EngineSocket, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        if socket.poll is not None:  # a second GET while one waits: the client is broken
            await _error(send, 400, BAD_REQUEST, cors)
            self.engine.close(socket, "duplicate poll")
            return
        if not socket.outbox and not socket.closed:
            if socket.probe_answered:
                socket.outbox.append(NOOP)
            else:
                socket.poll = asyncio.get_running_loop().create_future()
                try:
                    await socket.poll
                finally:
                    socket.poll = None
                if not socket.outbox and socket.probe_answered:
                    socket.outbox.append(NOOP)
        await self._answer_poll(socket, send, cors)

    async def _answer_poll(
        self, socket: EngineSocket, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        outbox, socket.outbox = socket.outbox, []
        socket.outbox_bytes = 0
        if socket.closed or socket.transport != "polling":
            self.engine.forget(socket)
        body = eio.SEPARATOR.join(item.polling() for item in outbox).encode()
        await _respond(send, 200, body, "text/plain; charset=UTF-8", cors)
        if socket.dropped:
            self.engine.drained(socket)

    async def _push(
        self,
        socket: EngineSocket,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        limit = self.engine.config.max_payload
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(socket, send, cors)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                chunks.clear()
                await self._too_large(socket, send, cors)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            packets = eio.decode_payload(b"".join(chunks).decode(), self.engine.config.max_packets)
        except (UnicodeDecodeError, eio.ProtocolError) as exc:
            await _error(send, 400, BAD_REQUEST, cors)
            self.engine.protocol_error(socket, str(exc))
            return
        for packet in packets:
            self.engine.receive(socket, packet)
        await _respond(send, 200, b"ok", "text/html", cors)

    async def _too_large(
        self, socket: EngineSocket, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        bad_input_log.info(
            "payload over the limit; connection closed",
            key="too_large",
            extra={
                "sid": socket.sid,
                "remote": socket.remote,
                "limit": self.engine.config.max_payload,
            },
        )
        await _error(send, 413, PAYLOAD_TOO_LARGE, cors, close=True)
        self.engine.close(socket, "payload too large", linger=False)

    def _cors_headers(self, origin: str | None, host: str) -> list[tuple[bytes, bytes]]:
        if origin is None or not self.engine.origin_allowed(origin, host):
            return []
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"content-type"),
            (b"vary", b"Origin"),
        ]


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    close: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    if close:  # the rest of the body is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Send,
    status: int,
    error: tuple[int, str],
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    close: bool = False,
) -> None:
    body = orjson.dumps({"code": error[0], "message": error[1]})
    with contextlib.suppress(OSError):
        await _respond(send, status, body, "application/json", extra, close=close)
