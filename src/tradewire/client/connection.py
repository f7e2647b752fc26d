"""One Socket.IO connection to tradewire over a WebSocket, on the service's own wire protocol
(`tradewire.realtime.protocol`): the Engine.IO 4 handshake, heartbeat answers, the `/`
namespace's CONNECT with `auth`, events out with acks, events in.

A `Connection` lives once: when it ends (the server disconnected it, the transport dropped,
`close()`), `ended` holds the reason and a new `Connection` is needed. Reconnecting is the
business of `TradewireClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from tradewire.client.errors import AckTimeout, ConnectionLost, NotConnected, connection_refused
from tradewire.realtime.protocol import eio, sio

log = logging.getLogger(__name__)

# Why a connection ended: the reasons socket.io clients report on `disconnect`
SERVER_DISCONNECT = "io server disconnect"
"""The server ended it (`server:shutdown`, logout, flooding): socket.io does not retry these."""
CLIENT_DISCONNECT = "io client disconnect"
TRANSPORT_CLOSE = "transport close"
PING_TIMEOUT = "ping timeout"
PARSE_ERROR = "parse error"

EventSink = Callable[[str, Any, "int | None"], None]
"""Called with (event name, its first argument or None, ack id or None) for every server event,
in arrival order, from the connection's reading task: it must not block."""


def websocket_url(base_url: str, path: str = "/socket.io") -> str:
    """`http://host:8000` -> `ws://host:8000/socket.io/?EIO=4&transport=websocket`."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    prefix = parts.path.rstrip("/")
    full_path = prefix + "/" + path.strip("/") + "/"
    query = f"EIO={eio.PROTOCOL_VERSION}&transport=websocket"
    return urlunsplit((scheme, parts.netloc, full_path, query, ""))


class Connection:
    """Use `await Connection.open(...)`; see the module docstring."""

    def __init__(self, ws: ClientConnection, handshake: dict[str, Any], sink: EventSink) -> None:
        self._ws = ws
        self._sink = sink
        self.eio_sid = str(handshake["sid"])
        self.sid = ""
        self.pid: str | None = None
        """The private session id of the CONNECT reply (connection-state recovery)."""
        self.offset: str | None = None
        """The offset of the last user event (its last argument), to recover from."""
        # Engine.IO 4: the server pings every pingInterval ms and expects a pong within
        # pingTimeout; a server that is silent for both together is gone.
        self._silence_limit = (handshake["pingInterval"] + handshake["pingTimeout"]) / 1000
        self._ids = itertools.count()
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}  # ack id -> the caller's future
        self._binary: sio.Packet | None = None  # a binary packet still waiting for attachments
        self._closing = False
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls,
        base_url: str,
        auth: dict[str, Any] | None,
        sink: EventSink,
        *,
        path: str = "/socket.io",
        timeout: float = 10.0,
    ) -> Connection:
        """Connect and join the `/` namespace with `auth`. Raises `ConnectionRefused` (a
        subclass per code) when the server refuses, `OSError` / `websockets` errors /
        `TimeoutError` when it cannot be reached."""
        ws = await websockets.connect(
            websocket_url(base_url, path),
            open_timeout=timeout,
            ping_interval=None,  # Engine.IO has its own heartbeat
            compression=None,
            max_size=None,
        )
        try:
            async with asyncio.timeout(timeout):
                opened = eio.decode_packet(await ws.recv())
                if opened.type is not eio.PacketType.OPEN or not isinstance(opened.data, str):
                    raise ConnectionLost(f"expected an Engine.IO OPEN packet, got {opened}")
                connection = cls(ws, orjson.loads(opened.data), sink)
                await connection._send(sio.Packet(sio.PacketType.CONNECT, data=auth))
                await connection._await_namespace()
        except BaseException:
            await ws.close()
            raise
        connection._reader = asyncio.create_task(connection._read(), name="tradewire-connection")
        return connection

    async def _await_namespace(self) -> None:
        while True:
            packet = await self._next_packet()
            if packet is None:
                continue
            if packet.type is sio.PacketType.CONNECT:
                reply = packet.data if isinstance(packet.data, dict) else {}
                self.sid = str(reply.get("sid", ""))
                pid = reply.get("pid")
                self.pid = pid if isinstance(pid, str) else None
                return
            if packet.type is sio.PacketType.CONNECT_ERROR:
                raise connection_refused(packet.data)
            raise ConnectionLost(f"unexpected {packet.type.name} before CONNECT")

    async def _next_packet(self) -> sio.Packet | None:
        """Read one frame; answer a ping; return a complete Socket.IO packet or None."""
        frame = await self._ws.recv()
        packet = eio.decode_packet(frame)
        if packet.type is eio.PacketType.PING:
            await self._ws.send(eio.encode_packet(eio.Packet(eio.PacketType.PONG, packet.data)))
            return None
        if packet.type is eio.PacketType.CLOSE:
            raise websockets.ConnectionClosedOK(None, None)
        if packet.type is not eio.PacketType.MESSAGE:
            return None  # NOOP, or an upgrade probe answer we never asked for
        if isinstance(packet.data, bytes):
            if self._binary is None:
                raise sio.ProtocolError("a binary message without a binary packet")
            pending = self._binary
            if not sio.add_attachment(pending, packet.data):
                return None
            self._binary = None
            return pending
        decoded = sio.decode(packet.data)
        if decoded.attachments:
            self._binary = decoded
            return None
        return decoded

    async def _read(self) -> None:
        reason = TRANSPORT_CLOSE
        try:
            while True:
                async with asyncio.timeout(self._silence_limit):
                    packet = await self._next_packet()
                if packet is None:
                    continue
                if packet.type is sio.PacketType.DISCONNECT:
                    reason = SERVER_DISCONNECT
                    return
                self._dispatch(packet)
        except TimeoutError:
            reason = PING_TIMEOUT
        except (eio.ProtocolError, sio.ProtocolError) as exc:
            log.warning("tradewire sent a packet this client cannot read: %s", exc)
            reason = PARSE_ERROR
        except websockets.ConnectionClosed:
            reason = TRANSPORT_CLOSE
        finally:
            if self._closing:
                reason = CLIENT_DISCONNECT
            await self._ws.close()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionLost(f"the connection ended: {reason}"))
            self._acks.clear()
            if not self.ended.done():
                self.ended.set_result(reason)

    def _dispatch(self, packet: sio.Packet) -> None:
        if packet.type in (sio.PacketType.ACK, sio.PacketType.BINARY_ACK):
            assert packet.id is not None  # sio.decode checks it
            future = self._acks.pop(packet.id, None)
            if future is not None and not future.done():
                future.set_result(packet.data)
        elif packet.type in (sio.PacketType.EVENT, sio.PacketType.BINARY_EVENT):
            name, *args = packet.data
            if len(args) >= 2 and isinstance(args[-1], str):
                self.offset = args[-1]  # a user event's recovery offset
            if packet.id is not None:
                # the server asks for an answer (`latency:ping`): an empty ack, at once
                task = asyncio.create_task(self.ack(packet.id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._sink(name, args[0] if args else None, packet.id)

    async def _send(self, packet: sio.Packet) -> None:
        for part in sio.encode(packet):
            if isinstance(part, str):
                await self._ws.send(eio.encode_packet(eio.Packet(eio.PacketType.MESSAGE, part)))
            else:
                await self._ws.send(part)

    @property
    def connected(self) -> bool:
        return not self.ended.done() and not self._closing

    async def call(self, event: str, data: Any = None, *, timeout: float = 10.0) -> Any:
        """Send `event` (with `data` unless None) and return the first argument of its ack.
        Raises `NotConnected`, `ConnectionLost` (ended before the answer), `AckTimeout`."""
        if not self.connected:
            raise NotConnected(f"not connected: cannot send {event}")
        ack_id = next(self._ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        args = [event] if data is None else [event, data]
        try:
            try:
                await self._send(sio.Packet(sio.PacketType.EVENT, data=args, id=ack_id))
            except websockets.ConnectionClosed as exc:
                raise ConnectionLost(f"the connection ended while sending {event}") from exc
            try:
                async with asyncio.timeout(timeout):
                    answer = await future
            except TimeoutError:
                raise AckTimeout(f"no answer to {event} within {timeout} s") from None
        finally:
            self._acks.pop(ack_id, None)
        return answer[0] if answer else None

    async def ack(self, ack_id: int, *args: Any) -> None:
        """Answer a server event that asked for an ack (`latency:ping`)."""
        if self.connected:
            # a closed socket is noticed by the reader, which ends the connection
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._send(sio.Packet(sio.PacketType.ACK, data=list(args), id=ack_id))

    async def close(self) -> None:
        """Leave the namespace and close the WebSocket; `ended` becomes `io client disconnect`."""
        if self.ended.done():
            return
        self._closing = True
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._send(sio.Packet(sio.PacketType.DISCONNECT))
        await self._ws.close()
        if self._reader is not None:
            await self._reader
