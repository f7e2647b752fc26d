"""The Socket.IO 5 server: namespaces, connections, events and acks, over `engine.py`.

Each Engine.IO session gets a `Connection`; each namespace it connects to, a `Socket`. A
`Namespace` is what the application implements: `connect` (raise `ConnectRefused` to answer
CONNECT_ERROR with `{message, data}`), `connected`, `event` (its return value, a list of
arguments, is the ack when the client asked for one) and `disconnected`.

Limits: a connection that connects to no namespace within `connect_timeout` is closed; a
binary packet may carry at most `MAX_ATTACHMENTS` attachments and its text and attachments
together at most `max_payload` bytes; at most `MAX_CONCURRENT_EVENTS` of a connection's
event handlers run at once, and past `MAX_QUEUED_EVENTS` waiting events its reading pauses; a
packet that is not Socket.IO 5 closes its connection and nothing else. Every such close is
logged, at a bounded rate.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Iterable
from typing import Any

from tradewire.realtime.engine import Engine, EngineSocket, HandshakeRequest, Outgoing
from tradewire.realtime.protocol import sio
from tradewire.realtime.protocol.sio import Packet, PacketType
from tradewire.realtime.throttled_log import ThrottledLog

log = logging.getLogger(__name__)
bad_input_log = ThrottledLog(log)

DISCONNECT_REASONS = frozenset(
    {
        "client disconnect",  # the client left the namespace, or closed the session
        "server disconnect",  # `Socket.disconnect`: logout, a flood, shutdown
        "transport close",  # the connection closed (a browser tab closed, a network drop)
        "transport error",  # the connection failed (a WebSocket protocol error)
        "ping timeout",  # no pong within pingTimeout
        "parse error",  # a packet that is not Engine.IO 4 / Socket.IO 5
        "payload too large",  # a POST body or WebSocket message over the limit
        "send buffer full",  # the client stopped reading: too much queued for it
        "too many events",  # a long-polling client that queued too many events
        "duplicate poll",  # a second long-polling GET while one waited
        "server shutting down",  # the transport stopped
    }
)
"""Every reason `Namespace.disconnected` can be given (the metrics' `reason` label)."""
MAX_ATTACHMENTS = 10
MAX_CONCURRENT_EVENTS = 16
"""Event handlers of one connection running at once."""
MAX_QUEUED_EVENTS = 1024
"""Events of one connection waiting for a handler before its reading pauses."""
CONNECTED_DELAY = 0.002
"""Seconds between a CONNECT reply's write and `Namespace.connected`."""
DISCONNECT_DELAY = 0.02
"""Seconds between a server-side disconnect and its DISCONNECT packet."""
MAX_PENDING_ACKS = 64
"""Server-to-client calls (`Socket.call`) waiting for their ack, per socket."""


class ConnectRefused(Exception):
    """Raised by `Namespace.connect`: the client gets CONNECT_ERROR `{message, data}`."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class Namespace:
    """The application's side of one namespace. Every method may be overridden."""

    async def connect(self, socket: Socket, auth: Any) -> None:
        """Accept (return) or refuse (raise `ConnectRefused`) a socket."""

    def connected(self, socket: Socket) -> None:
        """After the CONNECT reply went out: the first moment the socket can be emitted to."""

    async def event(self, socket: Socket, event: str, args: list[Any]) -> list[Any] | None:
        """A client event; the result is the ack's arguments when the client asked for one."""
        return None

    def disconnected(self, socket: Socket, reason: str) -> None:
        """The socket left; `reason` is one of `DISCONNECT_REASONS`."""

    def drained(self, socket: Socket) -> None:
        """The socket reads again after packets sent as droppable were left out for it."""


class Connection:
    """One Engine.IO session as Socket.IO sees it."""

    __slots__ = (
        "binary",
        "binary_bytes",
        "engine_socket",
        "inbox",
        "paused",
        "request",
        "server",
        "sockets",
        "timer_slot",
        "workers",
    )

    def __init__(self, server: SocketServer, engine_socket: EngineSocket) -> None:
        self.server = server
        self.engine_socket = engine_socket
        self.request: HandshakeRequest | None = None
        """The handshake; dropped once a namespace accepted the connection."""
        self.sockets: dict[str, Socket] = {}
        self.binary: Packet | None = None
        self.binary_bytes = 0
        # inbox: (socket, EVENT) waiting for a handler, while any is (None when idle)
        self.inbox: deque[tuple[Socket, Packet]] | None = None
        self.workers = 0
        self.paused = False
        self.timer_slot: int | None = None

    @property
    def transport(self) -> str:
        return self.engine_socket.transport

    def timer_expired(self) -> None:
        """No namespace connected within the connect timeout."""
        if not self.sockets:
            bad_input_log.info(
                "no CONNECT in time; connection closed",
                key="connect_timeout",
                extra={"sid": self.engine_socket.sid, "remote": self.engine_socket.remote},
            )
            self.engine_socket.close("connect timeout")

    def send_packet(self, packet: Packet) -> None:
        for part in sio.encode(packet):
            if isinstance(part, bytes):
                self.engine_socket.send(Outgoing(part, binary=True))
            else:
                self.engine_socket.send(Outgoing.text("4" + part))


class Socket:
    """One client's socket in one namespace. `data` belongs to the application.

    `pid`: the private session id of connection-state recovery, sent in the CONNECT reply when
    the namespace set it (`Namespace.connect` may also give back a recovered socket's `sid`)."""

    __slots__ = ("_acks", "_next_ack", "connection", "data", "namespace", "pid", "rooms", "sid")

    def __init__(self, connection: Connection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace
        self.sid = secrets.token_urlsafe(15)
        self.pid: str | None = None
        self.rooms: set[str] = set()
        self.data: Any = None
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}
        self._next_ack = 0

    def __repr__(self) -> str:
        return f"<Socket {self.sid} {self.namespace}>"

    @property
    def connected(self) -> bool:
        return self.connection.sockets.get(self.namespace) is self

    @property
    def transport(self) -> str:
        return self.connection.transport

    def emit(self, event: str, *args: Any) -> None:
        """Queue an event for this socket (no ack)."""
        if self.connected:
            self.connection.send_packet(Packet(PacketType.EVENT, self.namespace, [event, *args]))

    async def call(self, event: str, *args: Any, timeout: float) -> list[Any]:
        """Emit with an ack id and wait for the client's ack arguments. Raises `TimeoutError`,
        or `ConnectionError` when the socket is gone (or has too many calls waiting)."""
        if not self.connected or len(self._acks) >= MAX_PENDING_ACKS:
            raise ConnectionError("socket not connected")
        ack_id = self._next_ack
        self._next_ack += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        self.connection.send_packet(
            Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id)
        )
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._acks.pop(ack_id, None)

    def disconnect(self) -> None:
        """Leave the namespace (the client gets DISCONNECT); the connection closes with its
        last namespace."""
        self.connection.server.disconnect(self)

    def _ack(self, packet: Packet) -> None:
        future = self._acks.pop(packet.id, None) if packet.id is not None else None
        if future is not None and not future.done():
            future.set_result(packet.data)

    def _gone(self) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("socket disconnected"))
        self._acks.clear()


class SocketServer:
    """The Socket.IO side of an `Engine`: it is the engine's handler."""

    def __init__(self, connect_timeout: float = 45.0) -> None:
        self.connect_timeout = connect_timeout
        self.namespaces: dict[str, Namespace] = {}
        self.engine: Engine | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, name: str, namespace: Namespace) -> None:
        self.namespaces[name] = namespace

    # ------------------------------------------------------------ engine events

    def on_open(self, socket: EngineSocket, request: HandshakeRequest) -> None:
        connection = Connection(self, socket)
        connection.request = request
        socket.handler_state = connection
        if self.engine is not None:
            self.engine.wheel.schedule(connection, self.connect_timeout)

    def on_close(self, socket: EngineSocket, reason: str) -> None:
        connection: Connection | None = socket.handler_state
        if connection is None:
            return
        if self.engine is not None:
            self.engine.wheel.cancel(connection)
        for sock in list(connection.sockets.values()):
            self._leave(sock, reason)
        connection.binary = None
        connection.request = None

    def on_drained(self, socket: EngineSocket) -> None:
        connection: Connection | None = socket.handler_state
        if connection is None:
            return
        for sock in list(connection.sockets.values()):
            namespace = self.namespaces.get(sock.namespace)
            if namespace is not None:
                namespace.drained(sock)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        connection: Connection | None = socket.handler_state
        if connection is None:
            return
        try:
            if isinstance(data, bytes):
                packet = self._attachment(connection, data)
                if packet is None:
                    return
            else:
                if connection.binary is not None:
                    raise sio.ProtocolError("text packet while attachments were expected")
                packet = sio.decode(data)
                if packet.attachments:
                    if packet.attachments > MAX_ATTACHMENTS:
                        raise sio.ProtocolError("too many attachments")
                    connection.binary = packet
                    connection.binary_bytes = len(data)
                    return
        except sio.ProtocolError as exc:
            bad_input_log.info(
                "invalid Socket.IO packet; connection closed",
                key="sio_protocol",
                extra={"sid": socket.sid, "remote": socket.remote, "reason": str(exc)},
            )
            socket.close("parse error")
            return
        self._dispatch(connection, packet)

    def _attachment(self, connection: Connection, data: bytes) -> Packet | None:
        packet = connection.binary
        if packet is None:
            raise sio.ProtocolError("binary message without a binary packet")
        connection.binary_bytes += len(data)
        limit = self.engine.config.max_payload if self.engine is not None else 1_000_000
        if connection.binary_bytes > limit:
            raise sio.ProtocolError("attachments over the payload limit")
        if not sio.add_attachment(packet, data):
            return None
        connection.binary = None
        return packet

    # ------------------------------------------------------------ packets

    def _dispatch(self, connection: Connection, packet: Packet) -> None:
        match packet.type:
            case PacketType.CONNECT:
                self._connect(connection, packet)
            case PacketType.DISCONNECT:
                sock = connection.sockets.get(packet.namespace)
                if sock is not None:
                    self._leave(sock, "client disconnect")
            case PacketType.EVENT | PacketType.BINARY_EVENT:
                sock = connection.sockets.get(packet.namespace)
                if sock is not None:
                    self._event(sock, packet)
            case PacketType.ACK | PacketType.BINARY_ACK:
                sock = connection.sockets.get(packet.namespace)
                if sock is not None:
                    sock._ack(packet)
            case _:  # CONNECT_ERROR comes from servers only
                connection.engine_socket.close("parse error")

    def _connect(self, connection: Connection, packet: Packet) -> None:
        name = packet.namespace
        namespace = self.namespaces.get(name)
        if namespace is None:
            connection.send_packet(
                Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"})
            )
            return
        if name in connection.sockets:
            return
        self._spawn(self._run_connect(connection, namespace, name, packet.data))

    async def _run_connect(
        self, connection: Connection, namespace: Namespace, name: str, auth: Any
    ) -> None:
        sock = Socket(connection, name)
        try:
            await namespace.connect(sock, auth)
        except ConnectRefused as refused:
            error: dict[str, Any] = {"message": refused.message}
            if refused.data is not None:
                error["data"] = refused.data
            connection.send_packet(Packet(PacketType.CONNECT_ERROR, name, error))
            return
        except Exception:
            log.exception("connect handler failed", extra={"namespace": name})
            connection.send_packet(
                Packet(PacketType.CONNECT_ERROR, name, {"message": "Internal error"})
            )
            return
        if connection.engine_socket.closed or name in connection.sockets:
            return
        connection.sockets[name] = sock
        if self.engine is not None:
            self.engine.wheel.cancel(connection)
        connection.request = None  # nothing reads the handshake's headers again
        reply = {"sid": sock.sid} if sock.pid is None else {"sid": sock.sid, "pid": sock.pid}
        connection.send_packet(Packet(PacketType.CONNECT, name, reply))
        # the reply is written on this loop turn's flush; `connected` runs a moment after it,
        # so what it emits follows the reply in a write of its own (some clients read only
        # one message per read from the network)
        asyncio.get_running_loop().call_later(CONNECTED_DELAY, self._connected, namespace, sock)

    def _connected(self, namespace: Namespace, sock: Socket) -> None:
        if not sock.connected:
            return
        try:
            namespace.connected(sock)
        except Exception:
            log.exception("connected handler failed", extra={"sid": sock.sid})

    def _event(self, sock: Socket, packet: Packet) -> None:
        """Queue a client event. At most `MAX_CONCURRENT_EVENTS` handlers of one connection
        run at once, taking its events in arrival order; past `MAX_QUEUED_EVENTS` waiting, a
        WebSocket's reading pauses until half of them are done (TCP then holds the client
        back), and a long-polling connection, which cannot be paused, is closed."""
        connection = sock.connection
        if connection.inbox is None:
            connection.inbox = deque()
        connection.inbox.append((sock, packet))
        queued = len(connection.inbox)
        if queued > MAX_QUEUED_EVENTS and not connection.paused:
            if connection.engine_socket.pause_reading():
                connection.paused = True
            elif queued > MAX_QUEUED_EVENTS * 4:
                bad_input_log.warning(
                    "too many events waiting; connection closed",
                    key="events_waiting",
                    extra={
                        "sid": connection.engine_socket.sid,
                        "remote": connection.engine_socket.remote,
                    },
                )
                connection.engine_socket.close("too many events")
                return
        if connection.workers < MAX_CONCURRENT_EVENTS:
            connection.workers += 1
            self._spawn(self._work(connection))

    async def _work(self, connection: Connection) -> None:
        """Run a connection's queued events until none is left."""
        try:
            while connection.inbox:
                sock, packet = connection.inbox.popleft()
                if connection.paused and len(connection.inbox) <= MAX_QUEUED_EVENTS // 2:
                    connection.paused = False
                    connection.engine_socket.resume_reading()
                if sock.connected:
                    await self._run_event(sock, packet)
        finally:
            connection.workers -= 1
            if not connection.workers:
                connection.inbox = None  # an idle connection keeps no queue

    async def _run_event(self, sock: Socket, packet: Packet) -> None:
        namespace = self.namespaces[sock.namespace]
        event, *args = packet.data
        try:
            result = await namespace.event(sock, event, args)
        except Exception:
            log.exception("event handler failed", extra={"sid": sock.sid, "event": event})
            result = None
        if packet.id is not None and sock.connected:
            sock.connection.send_packet(
                Packet(PacketType.ACK, sock.namespace, list(result or []), packet.id)
            )

    def disconnect(self, sock: Socket) -> None:
        """The socket leaves at once (`disconnected` is called, nothing more is sent to it or
        taken from it); the client gets DISCONNECT `DISCONNECT_DELAY` later, in a write of its
        own after what was queued before it, and the connection closes with its last
        namespace. (A client that runs each message's handlers as tasks of their own would
        otherwise see the DISCONNECT before the events that came with it in one read.)"""
        if not sock.connected:
            return
        self._leave(sock, "server disconnect")
        asyncio.get_running_loop().call_later(DISCONNECT_DELAY, self._send_disconnect, sock)

    def _send_disconnect(self, sock: Socket) -> None:
        connection = sock.connection
        if connection.engine_socket.closed:
            return
        connection.send_packet(Packet(PacketType.DISCONNECT, sock.namespace))
        if not connection.sockets:
            connection.engine_socket.close("server disconnect")

    def _leave(self, sock: Socket, reason: str) -> None:
        connection = sock.connection
        if connection.sockets.get(sock.namespace) is not sock:
            return
        del connection.sockets[sock.namespace]
        sock._gone()
        try:
            self.namespaces[sock.namespace].disconnected(sock, reason)
        except Exception:
            log.exception("disconnect handler failed", extra={"sid": sock.sid})

    # ------------------------------------------------------------ broadcast

    def broadcast(self, sockets: Iterable[Socket], namespace: str, event: str, *args: Any) -> int:
        """One event to many sockets of `namespace`: encoded and framed once. Returns how many
        sockets it was queued for."""
        outgoing = Outgoing.text("4" + sio.encode_event(namespace, event, *args))
        if self.engine is None:
            return 0
        return self.engine.send_many(
            (s.connection.engine_socket for s in sockets if s.connected), outgoing
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for the handlers still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
