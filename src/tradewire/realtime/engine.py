"""The Engine.IO 4 server: sessions, HTTP long-polling, WebSocket, the upgrade, heartbeats.

An `EngineSocket` is one Engine.IO session, on one transport at a time:

- **long-polling** is served as ASGI by `polling.py`: a GET waits for packets (one GET at a time per
  session; a second one closes the session), a POST brings packets;
- **WebSocket** connections come from `websocket.py` (uvicorn's WebSocket protocol slot, on
  websockets' sans-I/O `ServerProtocol`), which hands each message to `receive`;
- **the upgrade**: a WebSocket that names a polling session's sid is a probe; `2probe` is
  answered `3probe` and the waiting GET `6` (noop); `5` moves the session onto the WebSocket.

Heartbeats: the server sends `2` (ping) `ping_interval` after the open or the last pong and
closes a session that sends no `3` (pong) within `ping_timeout`, all on one `TimerWheel`.

Writes: `send` appends an `Outgoing` to the socket's outbox and marks the socket; once per
loop turn every marked socket is flushed, its WebSocket frames in one write (or its waiting
GET answered). A broadcast makes one `Outgoing` and hands it to every socket: it is encoded
and framed once.

Slow consumers: a socket that stops reading fills its TCP buffers, then the transport's
(uvicorn pauses writing past its high-water mark), then the outbox. Packets marked
`droppable` (quotes: a newer one replaces them) are not queued while the socket's WebSocket is
paused or its outbox holds `drop_backlog` bytes; once it drains the layer above hears
`on_drained` and sends the latest state instead. Other packets (user events) are never
dropped: past `max_buffer` queued bytes the socket is closed with a logged reason, and its TCP
connection is aborted if the client does not read the close either (websocket.py).

Limits at the door: a POST body or WebSocket message over `max_payload` is refused with 413 /
close 1009 having read no more than the limit; a body with more than `max_packets` packets,
or any packet that is not Engine.IO 4, closes that session and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson
from websockets.frames import Frame, Opcode

from tradewire.realtime.protocol import eio
from tradewire.realtime.protocol.eio import Packet, PacketType
from tradewire.realtime.throttled_log import ThrottledLog
from tradewire.realtime.timers import TimerWheel

if TYPE_CHECKING:
    from tradewire.realtime.websocket import EngineWebSocket

log = logging.getLogger(__name__)
bad_input_log = ThrottledLog(log)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    path: str = "/socket.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    """Bytes of one POST body or one WebSocket message (the handshake's `maxPayload`)."""
    max_packets: int = 500
    """Packets one POST may carry: a client flushes every event since its last POST in one."""
    max_buffer: int = 4 * 1024 * 1024
    """Bytes queued for one socket and not yet written before that socket is closed."""
    drop_backlog: int = 64 * 1024
    """Queued bytes past which a socket's droppable packets (quotes) are dropped."""
    upgrade_timeout: float = 10.0
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed besides the server's own (`*`: any)."""
    handshake_rate: float = 0.0
    """New sessions admitted per second (a token bucket); 0: no limit."""
    handshake_burst: int = 0
    """New sessions admitted at once before `handshake_rate` applies (at least 1)."""


TOO_MANY_HANDSHAKES = (3, "Too many new connections; retry after the Retry-After seconds")
"""The refusal of a handshake over the admission rate (HTTP 503, with `Retry-After`)."""


class HandshakeBucket:
    """Admits new sessions at `rate` per second, `burst` at once: a token bucket, so a storm of
    reconnecting clients is let in at a bounded rate and the rest are told when to retry."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self.tokens = self.burst
        self.at = time.monotonic()

    def take(self, now: float) -> float:
        """0.0 when a session is admitted (one token taken), else the seconds until one is."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(slots=True)
class HandshakeRequest:
    """What the transport layer tells the layer above about a new session's first request."""

    transport: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    remote: str | None


class EngineHandler(Protocol):
    """The layer above (Socket.IO). Called synchronously, in order, on the event loop."""

    def on_open(self, socket: EngineSocket, request: HandshakeRequest) -> None: ...

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None: ...

    def on_close(self, socket: EngineSocket, reason: str) -> None: ...

    def on_drained(self, socket: EngineSocket) -> None:
        """The socket reads again after droppable packets were dropped for it."""


class Outgoing:
    """One Engine.IO packet on its way out, encoded once however many sockets it goes to:
    `data` is the WebSocket frame's payload (the packet's text as UTF-8, or a binary
    MESSAGE's bytes); the frame itself is made on first use and kept. A `droppable` packet
    may be left out for a socket that is not reading (see the module docstring)."""

    __slots__ = ("_frame", "binary", "data", "droppable")

    def __init__(self, data: bytes, *, binary: bool = False, droppable: bool = False) -> None:
        self.data = data
        self.binary = binary
        self.droppable = droppable
        self._frame: bytes | None = None

    @classmethod
    def text(cls, text: str) -> Outgoing:
        return cls(text.encode())

    @property
    def frame(self) -> bytes:
        """The unmasked WebSocket frame (no extension is negotiated)."""
        if self._frame is None:
            opcode = Opcode.BINARY if self.binary else Opcode.TEXT
            self._frame = Frame(opcode, self.data).serialize(mask=False)
        return self._frame

    def polling(self) -> str:
        """This packet inside a long-polling payload."""
        if self.binary:
            return "b" + base64.b64encode(self.data).decode("ascii")
        return self.data.decode()


PING = Outgoing.text("2")
NOOP = Outgoing.text("6")
CLOSE = Outgoing.text("1")
PROBE_PONG = Outgoing.text("3probe")


class EngineSocket:
    """One Engine.IO session. `handler_state` belongs to the layer above."""

    __slots__ = (
        "awaiting_pong",
        "closed",
        "dirty",
        "dropped",
        "due",
        "engine",
        "handler_state",
        "outbox",
        "outbox_bytes",
        "overflowed",
        "poll",
        "probe",
        "probe_answered",
        "remote",
        "sid",
        "timer_slot",
        "transport",
        "ws",
    )

    def __init__(self, engine: Engine, sid: str, transport: str, remote: str | None) -> None:
        self.engine = engine
        self.sid = sid
        self.transport = transport
        self.remote = remote
        self.ws: EngineWebSocket | None = None
        self.probe: EngineWebSocket | None = None
        self.probe_answered = False
        self.poll: asyncio.Future[None] | None = None
        self.outbox: list[Outgoing] = []
        self.outbox_bytes = 0
        self.overflowed = False
        self.dropped = 0
        """Droppable packets left out since the socket last drained."""
        self.dirty = False
        self.closed = False
        self.awaiting_pong = False
        self.due = 0.0
        """When the heartbeat's next step is due: the next ping, or the pong's deadline."""
        self.timer_slot: int | None = None
        self.handler_state: Any = None

    def __repr__(self) -> str:
        return f"<EngineSocket {self.sid} {self.transport}{' closed' if self.closed else ''}>"

    def send(self, outgoing: Outgoing) -> None:
        self.engine.send(self, outgoing)

    def close(self, reason: str = "server disconnect") -> None:
        self.engine.close(self, reason)

    def pause_reading(self) -> bool:
        """Stop reading from the client (a WebSocket only); False when it cannot be paused."""
        if self.ws is None or self.ws.transport is None:
            return False
        self.ws.transport.pause_reading()
        return True

    def resume_reading(self) -> None:
        if (
            self.ws is not None
            and self.ws.transport is not None
            and not self.ws.transport.is_closing()
        ):
            self.ws.transport.resume_reading()

    def timer_expired(self) -> None:
        self.engine.heartbeat_due(self)


class Engine:
    """The sessions of one Engine.IO endpoint (`config.path`), as an ASGI app in front of
    `other_app`, which gets every other request."""

    def __init__(
        self,
        config: EngineConfig,
        handler: EngineHandler,
        other_app: ASGIApp | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.other_app = other_app
        # sockets[sid]: every open session, and closed polling ones still to deliver a last GET
        self.sockets: dict[str, EngineSocket] = {}
        resolution = min(config.ping_interval, config.ping_timeout) / 10
        self.wheel = TimerWheel(min(max(resolution, 0.01), 0.5))
        self._dirty: list[EngineSocket] = []
        self._flush_scheduled = False
        self.writes = 0
        """WebSocket writes made by the flushes (each carries every frame of one socket)."""
        self.dropped = 0
        """Droppable packets left out for sockets that were not reading (a counter)."""
        self.handshakes = (
            HandshakeBucket(config.handshake_rate, config.handshake_burst)
            if config.handshake_rate > 0
            else None
        )
        self.handshakes_refused = 0
        """New sessions refused over the admission rate (a counter)."""
        self.on_handshake_refused: Callable[[], None] | None = None
        """Called on each such refusal (the application counts them in its metrics)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.accepting = True
        self.state: Any = None
        """The wrapped application's state (FastAPI's `app.state`), for whoever serves this."""
        # the long-polling requests of this endpoint (imported here: polling.py builds on
        # this module's classes)
        from tradewire.realtime.polling import Polling

        self.polling = Polling(self)
        self._handshake_head = {
            "upgrades": [],
            "pingInterval": round(config.ping_interval * 1000),
            "pingTimeout": round(config.ping_timeout * 1000),
            "maxPayload": config.max_payload,
        }

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.wheel.start()

    async def stop(self) -> None:
        """Close every session (their waiting GETs answered), then stop the timer wheel."""
        self.accepting = False
        for socket in list(self.sockets.values()):
            self.close(socket, "server shutting down")
        self._flush()
        await self.wheel.stop()

    # ------------------------------------------------------------ sessions

    def admit_handshake(self) -> int | None:
        """Whether a new session may open now: None if so, else the whole seconds (at least 1)
        to send in `Retry-After`. Upgrades of open sessions are not counted."""
        if self.handshakes is None:
            return None
        wait = self.handshakes.take(time.monotonic())
        if wait == 0.0:
            return None
        self.handshakes_refused += 1
        if self.on_handshake_refused is not None:
            self.on_handshake_refused()
        bad_input_log.warning(
            "new connection refused: over the admission rate",
            key="handshake-rate",
            extra={"rate": self.config.handshake_rate, "retry_after_s": round(wait, 3)},
        )
        return max(1, -int(-wait // 1))

    def open_session(self, transport: str, request: HandshakeRequest) -> EngineSocket:
        sid = secrets.token_urlsafe(15)
        socket = EngineSocket(self, sid, transport, request.remote)
        self.sockets[sid] = socket
        upgrades = ["websocket"] if transport == "polling" else []
        head = {"sid": sid, **self._handshake_head, "upgrades": upgrades}
        self.send(socket, Outgoing.text("0" + orjson.dumps(head).decode()))
        self._schedule(socket, self.config.ping_interval)
        self.handler.on_open(socket, request)
        return socket

    def _schedule(self, socket: EngineSocket, delay: float) -> None:
        socket.due = time.monotonic() + delay
        self.wheel.schedule(socket, delay)

    def heartbeat_due(self, socket: EngineSocket) -> None:
        if socket.closed:  # a closed polling session whose last GET never came
            self.forget(socket)
        elif socket.awaiting_pong:
            self.close(socket, "ping timeout", linger=False)
        else:
            socket.awaiting_pong = True
            self.send(socket, PING)
            # the pong is due `ping_timeout` after the ping was due, however late the wheel
            socket.due += self.config.ping_timeout
            self.wheel.schedule(socket, max(0.0, socket.due - time.monotonic()))

    def timed_out(self, socket: EngineSocket) -> bool:
        """A pong overdue, seen before the wheel got to it (a busy loop): closed now."""
        if socket.awaiting_pong and not socket.closed and time.monotonic() >= socket.due:
            self.close(socket, "ping timeout", linger=False)
            return True
        return False

    def close(
        self, socket: EngineSocket, reason: str, *, notify: bool = True, linger: bool = True
    ) -> None:
        """End a session; `on_close` is called once. What is queued still goes out: on a
        WebSocket before its close frame; on polling, to the waiting GET or, when `linger`,
        the next one (the session waits for it up to `ping_timeout`), with a CLOSE packet
        when `notify` (a client that closed the session itself gets a noop instead). A
        session closed for a fault (bad input, a missed pong) does not linger: its next
        request is answered 400, as for an unknown session."""
        if socket.closed:
            return
        socket.closed = True
        self.wheel.cancel(socket)
        if socket.probe is not None:
            socket.probe.close(1000)
            socket.probe = None
        ws = socket.ws
        if ws is not None:
            self.sockets.pop(socket.sid, None)
            if notify:  # Engine.IO's CLOSE first: a clean close, not a transport error
                socket.outbox.append(CLOSE)
            if socket.outbox:
                ws.write(b"".join(item.frame for item in socket.outbox))
            socket.outbox.clear()
            socket.outbox_bytes = 0
            ws.close(1000)
        else:
            socket.outbox.append(CLOSE if notify else NOOP)
            if socket.poll is not None and not socket.poll.done():
                socket.poll.set_result(None)
            elif not linger:
                self.forget(socket)
            else:
                self.wheel.schedule(socket, self.config.ping_timeout)
        try:
            self.handler.on_close(socket, reason)
        except Exception:
            log.exception("close handler failed", extra={"sid": socket.sid})

    def forget(self, socket: EngineSocket) -> None:
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
        self.wheel.cancel(socket)

    # ------------------------------------------------------------ writing

    def send(self, socket: EngineSocket, outgoing: Outgoing) -> None:
        """Queue one packet for `socket`; it goes out with the socket's other packets of this
        loop turn, in order. A socket over `max_buffer` is closed."""
        if socket.closed or socket.overflowed:
            return
        if outgoing.droppable and (
            socket.outbox_bytes >= self.config.drop_backlog
            or (socket.ws is not None and not socket.ws.writable)
        ):
            socket.dropped += 1
            self.dropped += 1
            return
        socket.outbox.append(outgoing)
        socket.outbox_bytes += len(outgoing.data)
        if socket.outbox_bytes > self.config.max_buffer:
            bad_input_log.warning(
                "send buffer full; socket closed",
                key="buffer",
                extra={"sid": socket.sid, "queued_bytes": socket.outbox_bytes},
            )
            socket.outbox.clear()
            socket.outbox_bytes = 0
            # closed on the next turn: a broadcast may be iterating over its room right now
            socket.overflowed = True
            loop = self._loop or asyncio.get_running_loop()
            loop.call_soon(self.close, socket, "send buffer full")
            return
        self._mark(socket)

    def send_many(self, sockets: Iterable[EngineSocket], outgoing: Outgoing) -> int:
        """The same packet to each socket (a broadcast); returns how many it was queued for."""
        queued = 0
        for socket in sockets:
            if not socket.closed:
                self.send(socket, outgoing)
                queued += 1
        return queued

    def _mark(self, socket: EngineSocket) -> None:
        if not socket.dirty:
            socket.dirty = True
            self._dirty.append(socket)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop = self._loop or asyncio.get_running_loop()
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write what each marked socket has queued: one write per WebSocket."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for socket in dirty:
            socket.dirty = False
            if not socket.outbox or socket.closed:
                continue
            ws = socket.ws
            if ws is not None:
                if ws.writable:
                    outbox = socket.outbox
                    socket.outbox = []
                    socket.outbox_bytes = 0
                    ws.write(
                        outbox[0].frame
                        if len(outbox) == 1
                        else b"".join(item.frame for item in outbox)
                    )
                    self.writes += 1
                    if socket.dropped and ws.writable:
                        self.drained(socket)
            elif socket.poll is not None and not socket.poll.done():
                socket.poll.set_result(None)

    def writable_again(self, socket: EngineSocket) -> None:
        """The WebSocket drained below its high-water mark: flush what waited."""
        if socket.outbox:
            self._mark(socket)
        elif socket.dropped:
            self.drained(socket)

    def drained(self, socket: EngineSocket) -> None:
        """`socket` reads again after packets were dropped for it: tell the layer above."""
        socket.dropped = 0
        if socket.closed:
            return
        try:
            self.handler.on_drained(socket)
        except Exception:
            log.exception("drain handler failed", extra={"sid": socket.sid})

    # ------------------------------------------------------------ reading

    def receive(self, socket: EngineSocket, packet: Packet) -> None:
        """One packet from the client, on its current transport."""
        if socket.closed:
            return
        match packet.type:
            case PacketType.MESSAGE:
                self.handler.on_message(socket, packet.data)
            case PacketType.PONG:
                if socket.awaiting_pong:
                    socket.awaiting_pong = False
                    self._schedule(socket, self.config.ping_interval)
            case PacketType.CLOSE:
                self.close(socket, "client disconnect", notify=False)
            case PacketType.NOOP | PacketType.PING:
                pass
            case _:
                self.protocol_error(socket, f"unexpected {packet.type.name} packet")

    def protocol_error(self, socket: EngineSocket, reason: str) -> None:
        bad_input_log.info(
            "invalid packet; connection closed",
            key="protocol",
            extra={"sid": socket.sid, "remote": socket.remote, "reason": reason},
        )
        self.close(socket, "parse error", linger=False)

    # ------------------------------------------------------------ WebSocket

    def websocket_request(
        self, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, tuple[int, str]] | None:
        """Check a WebSocket handshake for this endpoint: None to accept it, else the HTTP
        status and the Engine.IO error to refuse it with."""
        if not self.accepting:
            return 503, eio.BAD_REQUEST
        return self.check_request(query, headers, "websocket")

    def websocket_open(self, ws: EngineWebSocket, query: dict[str, str], request: Any) -> None:
        """An accepted WebSocket: a new session, or a probe to upgrade a polling one."""
        sid = query.get("sid")
        if sid is None:
            handshake = HandshakeRequest("websocket", query, request.headers, request.remote)
            self._open_websocket(ws, handshake)
            return
        socket = self.sockets.get(sid)
        if (
            socket is None
            or socket.closed
            or socket.transport != "polling"
            or socket.probe is not None
        ):
            ws.close(1008, "Session ID unknown")
            return
        socket.probe = ws
        ws.socket = socket
        ws.probing = True
        self.wheel_probe(ws)

    def _open_websocket(self, ws: EngineWebSocket, request: HandshakeRequest) -> EngineSocket:
        sid = secrets.token_urlsafe(15)
        socket = EngineSocket(self, sid, "websocket", request.remote)
        socket.ws = ws
        ws.socket = socket
        self.sockets[sid] = socket
        head = {"sid": sid, **self._handshake_head}
        self.send(socket, Outgoing.text("0" + orjson.dumps(head).decode()))
        self._schedule(socket, self.config.ping_interval)
        self.handler.on_open(socket, request)
        return socket

    def wheel_probe(self, ws: EngineWebSocket) -> None:
        self.wheel.schedule(ws, self.config.upgrade_timeout)

    def websocket_message(self, ws: EngineWebSocket, data: str | bytes) -> None:
        socket = ws.socket
        if socket is None:
            return
        try:
            packet = eio.decode_packet(data)
        except eio.ProtocolError as exc:
            if ws.probing:
                ws.close(1002)
            else:
                self.protocol_error(socket, str(exc))
            return
        if not ws.probing:
            self.receive(socket, packet)
            return
        # the upgrade: 2probe -> 3probe (and a noop ends the waiting GET); 5 completes it
        if packet.type is PacketType.PING and packet.data == "probe":
            ws.write(PROBE_PONG.frame)
            socket.probe_answered = True
            if socket.poll is not None and not socket.poll.done():
                socket.poll.set_result(None)
        elif packet.type is PacketType.UPGRADE and socket.probe_answered and not socket.closed:
            self.wheel.cancel(ws)
            ws.probing = False
            socket.probe = None
            socket.transport = "websocket"
            socket.ws = ws
            if socket.poll is not None and not socket.poll.done():
                socket.poll.set_result(None)  # answered with a noop, then the GET is gone
            if socket.outbox:
                self._mark(socket)
        else:
            ws.close(1002)

    def websocket_closed(self, ws: EngineWebSocket, reason: str) -> None:
        socket = ws.socket
        ws.socket = None
        self.wheel.cancel(ws)
        if socket is None:
            return
        if socket.probe is ws:  # an upgrade that did not finish: the session stays on polling
            socket.probe = None
            socket.probe_answered = False
        elif socket.ws is ws and not socket.closed:
            self.close(socket, reason)

    # ------------------------------------------------------------ HTTP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path + "/").startswith(self.config.path):
            await self.polling(scope, receive, send)
        elif scope["type"] == "websocket" and (path + "/").startswith(self.config.path):
            # this endpoint's WebSockets are served by `websocket.EngineWebSocket`
            await send({"type": "websocket.close", "code": 1011})
        elif self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif scope["type"] == "http":
            await self.polling.not_found(send)

    def check_request(
        self, query: dict[str, str], headers: dict[str, str], transport: str
    ) -> tuple[int, tuple[int, str]] | None:
        if query.get("EIO") != eio.PROTOCOL_VERSION:
            return 400, eio.UNSUPPORTED_VERSION
        if query.get("transport") != transport:
            return 400, eio.UNKNOWN_TRANSPORT
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, headers.get("host", "")):
            return 403, eio.FORBIDDEN
        return None

    def origin_allowed(self, origin: str, host: str) -> bool:
        allowed = self.config.allowed_origins
        return "*" in allowed or origin in allowed or urlsplit(origin).netloc == host
