"""WebSocket connections for the Engine.IO endpoints, on websockets' sans-I/O protocol.

uvicorn takes the class that serves its WebSocket connections as an option (`ws=`): it
constructs one per upgrade request with its config and server state, hands it the transport
and the request's bytes. `websocket_protocol(*engines)` makes that class for our endpoints.
Each connection drives a `websockets.ServerProtocol` (the handshake, frame parsing, the
message size limit, control frames and the closing handshake, all through its public API)
and is the transport of one `EngineSocket`: its messages go to `Engine.websocket_message`,
and the engine writes pre-framed bytes with `write`. A frame made once is written to every
socket it goes to (server frames are unmasked, and no extension is negotiated).

A message over the engine's `max_payload` makes the protocol fail the connection with close
1009 as soon as the frame header announces it: its payload is never buffered.

A new session over the admission rate (`Engine.admit_handshake`) is refused from the request
line alone, before websockets parses the request: in a reconnection storm most handshakes are
refused, and each refusal then costs a few microseconds instead of a full handshake.

Handshakes take turns (`HandshakeTurns`): at most HANDSHAKE_BUDGET of one event-loop turn goes
to them, and the rest wait, in order, for the next turns. Thousands of handshakes that arrive
together (a reconnection storm's waves) are then answered over several turns, and the live
sockets' frames and `/healthz` are served between them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from email.utils import formatdate
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from tradewire.realtime.engine import TOO_MANY_HANDSHAKES, Engine, EngineSocket
from tradewire.realtime.throttled_log import ThrottledLog

log = logging.getLogger(__name__)
bad_input_log = ThrottledLog(log)

CLOSE_TIMEOUT = 2.0
"""How long a closing connection waits for the client's close frame before dropping TCP."""

HANDSHAKE_BUDGET = 0.005
"""Seconds of one event-loop turn that handshakes may take before the rest wait for the next
turn (at least one is handled each turn)."""


class HandshakeTurns:
    """The handshakes of one server, handled in slices of at most HANDSHAKE_BUDGET per
    event-loop turn, in the order they arrived. A connection's first bytes (its upgrade
    request) are handled at once while the turn's budget lasts and nobody waits; otherwise
    they wait, and a callback handles the waiting ones a slice per turn."""

    __slots__ = ("_draining", "_new_turn_scheduled", "spent", "waiting")

    def __init__(self) -> None:
        self.spent = 0.0
        """Seconds this turn has spent on handshakes so far."""
        self.waiting: deque[EngineWebSocket] = deque()
        self._new_turn_scheduled = False
        self._draining = False

    def arrived(self, ws: EngineWebSocket) -> None:
        if self.waiting or self.spent >= HANDSHAKE_BUDGET:
            self.waiting.append(ws)
            if not self._draining:
                self._draining = True
                asyncio.get_running_loop().call_soon(self._take_turn)
            return
        if not self._new_turn_scheduled:  # ready callbacks run once this turn's I/O is done
            self._new_turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._new_turn)
        started = time.perf_counter()
        try:
            ws.handle_first_bytes()
        finally:
            self.spent += time.perf_counter() - started

    def _new_turn(self) -> None:
        self._new_turn_scheduled = False
        self.spent = 0.0

    def _take_turn(self) -> None:
        """Handle waiting handshakes for up to HANDSHAKE_BUDGET (at least one), then come back
        on the next turn while any wait."""
        started = time.perf_counter()
        while self.waiting:
            ws = self.waiting.popleft()
            try:
                ws.handle_first_bytes()
            except Exception:  # that connection's fault: the others still get their turn
                log.exception("handshake failed")
                if ws.transport is not None:
                    ws.transport.abort()
            if time.perf_counter() - started >= HANDSHAKE_BUDGET:
                break
        if self.waiting:
            asyncio.get_running_loop().call_soon(self._take_turn)
        else:
            self._draining = False


class WebSocketRequest:
    """The handshake's headers and peer address, as the engine's `HandshakeRequest` wants."""

    __slots__ = ("headers", "remote")

    def __init__(self, headers: dict[str, str], remote: str | None) -> None:
        self.headers = headers
        self.remote = remote


class EngineWebSocket(asyncio.Protocol):
    """One WebSocket connection. Per-connection state is these slots and the sans-I/O
    protocol object; there is no task. `engines` is set by `websocket_protocol`."""

    engines: ClassVar[tuple[Engine, ...]] = ()
    turns: ClassVar[HandshakeTurns | None] = None
    """Set by `websocket_protocol`; without it handshakes are handled as they arrive."""

    __slots__ = (
        "_admitted",
        "_close_timer",
        "_first_bytes",
        "_fragments",
        "_server_state",
        "conn",
        "engine",
        "probing",
        "socket",
        "timer_slot",
        "transport",
        "writable",
    )

    def __init__(
        self,
        config: Any = None,
        server_state: Any = None,
        app_state: Any = None,
        _loop: Any = None,
    ) -> None:
        self._server_state = server_state
        self.engine: Engine | None = None
        max_payload = max((e.config.max_payload for e in self.engines), default=1_000_000)
        self.conn = ServerProtocol(max_size=max_payload)
        self.transport: asyncio.Transport | None = None
        self.socket: EngineSocket | None = None
        self.probing = False
        self.writable = True
        self.timer_slot: int | None = None
        self._fragments: list[bytes] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._admitted: bool | None = None
        """None until the first bytes; then True once admitted as a new session."""
        self._first_bytes: bytes | None = None
        """The upgrade request while it waits for its turn (`HandshakeTurns`)."""

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        connections = getattr(self._server_state, "connections", None)
        if connections is not None:  # uvicorn closes them on a graceful stop (`shutdown`)
            connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        connections = getattr(self._server_state, "connections", None)
        if connections is not None:
            connections.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self.writable = False
        self._first_bytes = None  # a handshake still waiting for its turn is dropped
        self.transport = None  # nothing more is written: no close frame, no close timer
        if self.engine is not None:
            code = self.conn.close_code
            reason = "transport close" if code in (None, 1000, 1001, 1005) else "transport error"
            self.engine.websocket_closed(self, reason)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        if self.engine is not None and self.socket is not None:
            self.engine.writable_again(self.socket)

    def data_received(self, data: bytes) -> None:
        if self._first_bytes is not None:  # more of a request that waits for its turn
            self._first_bytes += data
            return
        if self._admitted is None:
            self._admitted = False
            self._first_bytes = data
            if self.turns is not None:
                self.turns.arrived(self)
            else:
                self.handle_first_bytes()
            return
        self._receive(data)

    def handle_first_bytes(self) -> None:
        """The connection's first bytes, the upgrade request: refused over the admission rate,
        else handed to the handshake. Nothing if the connection is gone meanwhile."""
        data, self._first_bytes = self._first_bytes, None
        if data is None or self.transport is None or self.transport.is_closing():
            return
        if self._refused_early(data):
            return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._send_pending()
        if self.conn.close_expected() and self._close_timer is None:
            self._schedule_close()

    def eof_received(self) -> bool | None:
        if self._first_bytes is not None:  # the client gave up before its turn came
            self._first_bytes = None
            if self.transport is not None:
                self.transport.close()
            return None
        self.conn.receive_eof()
        self._send_pending()
        return None

    def shutdown(self) -> None:
        """uvicorn's graceful stop: close with 1012 (service restart)."""
        self.close(1012, "server shutting down")

    # ------------------------------------------------------------ the handshake

    def _refused_early(self, data: bytes) -> bool:
        """Refuse a new session over the admission rate from the request line (the first
        bytes: uvicorn hands over the whole request at once). True when refused (the response
        is written and the connection closed); False leaves the request to the handshake,
        admitted (`_admitted`) or for it to judge."""
        line_end = data.find(b"\r\n", 0, 8192)
        parts = data[:line_end].split(b" ") if line_end > 0 else []
        if len(parts) != 3:
            return False
        url = urlsplit(parts[1].decode("latin-1"))
        if "sid" in parse_qs(url.query):  # the upgrade of an open session: never counted
            return False
        engine = next((e for e in self.engines if (url.path + "/").startswith(e.config.path)), None)
        if engine is None or not engine.accepting:
            return False
        retry = engine.admit_handshake()
        if retry is None:
            self._admitted = True
            return False
        code, message = TOO_MANY_HANDSHAKES
        body = f'{{"code":{code},"message":"{message}"}}'.encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            "Connection: close\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Retry-After: {retry}\r\n\r\n"
        )
        if self.transport is not None:
            self.transport.write(head.encode() + body)
            self.transport.close()
        return True

    def _handshake(self, request: Request) -> None:
        url = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        engine = next((e for e in self.engines if (url.path + "/").startswith(e.config.path)), None)
        if engine is None:
            self._reject(404, "Not Found")
            return
        refused = engine.websocket_request(url.path, query, headers)
        if refused is not None:
            status, (code, message) = refused
            self._reject(status, f'{{"code":{code},"message":"{message}"}}')
            return
        retry = engine.admit_handshake() if "sid" not in query and not self._admitted else None
        if retry is not None:
            code, message = TOO_MANY_HANDSHAKES
            self._reject(503, f'{{"code":{code},"message":"{message}"}}', retry_after=retry)
            return
        response = self.conn.accept(request)
        self.conn.send_response(response)
        self._send_pending()
        if response.status_code != 101:  # websockets refused the handshake itself
            return
        self.engine = engine
        peer = self.transport.get_extra_info("peername") if self.transport else None
        remote = peer[0] if isinstance(peer, tuple) else None
        engine.websocket_open(self, query, WebSocketRequest(headers, remote))

    def _reject(self, status: int, body: str, *, retry_after: int | None = None) -> None:
        response: Response = self.conn.reject(status, body)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        self.conn.send_response(response)
        self._send_pending()

    # ------------------------------------------------------------ frames

    def _frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if frame.fin:
                self._message(frame.opcode, bytes(frame.data))
            else:
                self._fragments = [bytes(frame.data), bytes([frame.opcode.value])]
        elif frame.opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.insert(-1, bytes(frame.data))
            if frame.fin:
                *parts, opcode = self._fragments
                self._fragments = None
                self._message(Opcode(opcode[0]), b"".join(parts))
        # pings are answered and close frames handled by the protocol object itself

    def _message(self, opcode: Opcode, payload: bytes) -> None:
        engine = self.engine
        if engine is None or self.socket is None:
            return
        if opcode is Opcode.TEXT:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                bad_input_log.info(
                    "invalid UTF-8 in a text frame; connection closed",
                    key="utf8",
                    extra={"sid": self.socket.sid},
                )
                self.close(1007, "invalid UTF-8")
                return
            engine.websocket_message(self, text)
        else:
            engine.websocket_message(self, payload)

    # ------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        """Write bytes that are already WebSocket frames (see `Outgoing.frame`)."""
        transport = self.transport
        if transport is not None and not transport.is_closing() and self.conn.close_sent is None:
            transport.write(data)

    def _send_pending(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.conn.data_to_send():
            if data:
                if not transport.is_closing():
                    transport.write(data)
            else:  # the protocol's end of stream: the server closes TCP
                transport.close()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; TCP is closed when the client answers, or after
        `CLOSE_TIMEOUT`."""
        if self.conn.close_sent is None and self.conn.state.name == "OPEN":
            self.conn.send_close(code, reason)
            self._send_pending()
            self._schedule_close()
        elif self.transport is not None and self.conn.state.name == "CONNECTING":
            self.transport.close()

    def _schedule_close(self) -> None:
        if self._close_timer is None and self.transport is not None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, self._drop)

    def _drop(self) -> None:
        """The client did not finish the closing handshake in time. A client that stopped
        reading would keep a plain close waiting on its unsent bytes for ever: abort."""
        self._close_timer = None
        if self.transport is not None:
            if self.transport.get_write_buffer_size():
                self.transport.abort()
            else:
                self.transport.close()

    def timer_expired(self) -> None:
        """The upgrade did not complete within the engine's `upgrade_timeout`."""
        if self.probing:
            self.close(1002, "upgrade timeout")


def websocket_protocol(*engines: Engine) -> type[EngineWebSocket]:
    """The WebSocket protocol class for uvicorn's `ws=` option, serving these endpoints."""
    attributes = {"engines": engines, "turns": HandshakeTurns(), "__slots__": ()}
    return type("EngineWebSocket", (EngineWebSocket,), attributes)
