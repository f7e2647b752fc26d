"""Quote fan-out: each quote encoded once, its frames written straight to each socket.

python-socketio's `emit` to a room starts one task per recipient and wakes each recipient's
Engine.IO writer task once per message. With thousands of sockets that bookkeeping, not the
network, is what limits the server (docs/BENCHMARKS.md). Quotes are the one message that goes
to many sockets many times a second, so they take this path instead:

- each quote is encoded once, as JSON text, when the feed publishes it;
- a plain subscriber gets `quote:update` per quote (one sender task writes them, in the
  order the feed made them); a batching subscriber gets one `quotes:update` frame per flush,
  with the latest quote of each of its symbols that changed;
- sockets are split into `SOCKET_GROUPS` groups, written one group after another; batch
  flushes are spread across the interval, a group per turn: with thousands of sockets one pass
  over all of them takes longer than the interval itself, and in one burst the sockets written
  last would wait for all the others;
- quotes that queued up while the sender was busy go out together: each socket gets its
  frames of them in one write (one system call), so a burst costs fewer writes than frames;
- both yield to the event loop every `WRITES_PER_TURN` sockets, so that one big fan-out
  (thousands of sockets) does not hold up requests and database round trips (an order holds
  SQLite's write lock across several of those) for its whole length;
- a frame is written straight to the socket's connection, at once (see `DirectWebSocket`),
  when the socket's Engine.IO writer is idle with nothing queued and the connection is
  writable. Otherwise (long polling, an upgrade in progress, packets queued or being written,
  a client that reads slowly) the frame is queued through Engine.IO like any other packet. So
  a socket's packets are never reordered, and a slow reader never holds up the others.

Everything else (acks, user pushes, cluster-wide emits) stays on python-socketio's API, whose
delivery to this instance's sockets also ends in `write` (manager.py: `DirectManager`). This
module only reaches this instance's own sockets: every instance gets every quote (cluster/bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import engineio
import engineio.async_drivers.asgi
import engineio.packet
import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tradewire.schemas import Quote

log = logging.getLogger(__name__)

QUOTE_EVENT = "quote:update"
BATCH_EVENT = "quotes:update"
WRITES_PER_TURN = 256
"""Sockets written to before the fan-out lets the event loop run other work (a few ms' worth)."""
SOCKET_GROUPS = 8
"""Groups of subscribed sockets (by sid), each written on its own turn (see `QuoteFanout`)."""


def encode_quote(quote: Quote) -> bytes:
    return orjson.dumps(quote.wire())


def event_message(event: str, encoded_data: bytes) -> bytes:
    """A Socket.IO EVENT packet for the default namespace (`2["event",data]`) inside an
    Engine.IO MESSAGE packet (`4`): what one WebSocket text frame carries."""
    return _event_head(event) + encoded_data + b"]"


def _event_head(event: str) -> bytes:
    return b'42["' + event.encode() + b'",'


_QUOTE_HEAD = _event_head(QUOTE_EVENT)
_BATCH_HEAD = _event_head(BATCH_EVENT) + b'{"quotes":['
"""What every `quote:update` / `quotes:update` message starts with, encoded once."""


class LeanQueue:
    """A per-connection queue: the part of `asyncio.Queue` python-engineio and uvicorn call
    (`put`, `put_nowait`, `get`, `get_nowait`, `task_done`, `join`, `empty`, `qsize`), with
    the same semantics, in a tenth of the memory. An `asyncio.Queue` holds four deques of 760
    bytes each even when empty, and every connection has two (bench/memory.py); this holds
    lists and makes futures only while someone waits.

    As Engine.IO's outbound queue of a socket it also tells whether the socket's writer is
    idle: the WebSocket writer task loops on `get()`; while it waits there with nothing
    queued, no packet of that socket is on its way, so a frame written directly cannot
    overtake one."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self, maxsize: int = 0) -> None:  # unbounded, as python-engineio creates it
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] = []
        self._unfinished = 0
        self._joiners: list[asyncio.Future[None]] = []

    @property
    def writer_idle(self) -> bool:
        return bool(self._getters) and not self._items

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._unfinished += 1
        _wake_one(self._getters)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:  # cancelled (a wait_for timeout): pass a wake-up on
                getter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    _wake_one(self._getters)
                raise
        return self._items.pop(0)

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0:
            for joiner in self._joiners:
                if not joiner.done():
                    joiner.set_result(None)
            self._joiners.clear()

    async def join(self) -> None:
        if self._unfinished > 0:
            joiner = asyncio.get_running_loop().create_future()
            self._joiners.append(joiner)
            await joiner


def _wake_one(waiters: list[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            return


class DirectWebSocket(engineio.async_drivers.asgi.WebSocket):  # type: ignore[misc]
    """Engine.IO's ASGI WebSocket, listed in `registry` by Engine.IO sid while it is open, which
    can also write a text frame at once, without a task or an await.

    On uvicorn's sans-I/O WebSocket protocol (the one `tradewire serve` runs) a frame is
    encoded here and handed to the connection's transport: a server frame is a 2-10 byte header
    and the payload (unmasked; no extension is negotiated, as per-message deflate is off). On
    any other ASGI server, `write` is not available and frames go through Engine.IO's queue."""

    def __init__(self, handler: Any, server: Any, registry: dict[str, DirectWebSocket]) -> None:
        super().__init__(handler, server)
        self.eio_sid: str = handler.__self__.sid
        self._registry = registry
        self._protocol: Any = None
        self._plain_frames = False

    async def __call__(self, environ: dict[str, Any]) -> str:
        protocol = getattr(environ["asgi.send"], "__self__", None)
        self._protocol = protocol if isinstance(protocol, WebSocketsSansIOProtocol) else None
        self._registry[self.eio_sid] = self
        if self._protocol is not None:
            # after the handshake (which the handler's first step completes): what it agreed on
            asyncio.get_running_loop().call_soon(self._check_extensions)
        try:
            return str(await super().__call__(environ))
        finally:
            if self._registry.get(self.eio_sid) is self:
                del self._registry[self.eio_sid]

    def ready(self, socket: Any) -> bool:
        """True when a frame written now goes out at once, in order, and as a plain frame.

        uvicorn clears `writable` while the connection's write buffer is above its high-water
        mark (a client that reads slowly): its frames then wait in Engine.IO's queue."""
        protocol = self._protocol
        return (
            self._plain_frames
            and protocol.writable.is_set()
            and not protocol.close_sent
            and socket.upgraded
            and not socket.upgrading
            and socket.queue.writer_idle
        )

    def _check_extensions(self) -> None:
        protocol = self._protocol
        self._plain_frames = protocol.handshake_complete and not protocol.conn.extensions

    def write(self, *messages: bytes) -> None:
        """Write a text frame of each message, in one write; only after `ready()` said yes."""
        if len(messages) == 1:
            self._protocol.transport.write(text_frame(messages[0]))
        else:
            self._protocol.transport.write(b"".join(map(text_frame, messages)))


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with a `LeanQueue` for the messages it hands the
    application (2.3 KB less per connection), which lets go of the handshake's request and
    response once the connection is accepted (1.8 KB). `tradewire serve` runs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]  # the methods uvicorn calls

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # Nothing reads the handshake's request and response again. The request stays
            # referenced from the websockets parser's frame, so its headers are emptied.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


def text_frame(payload: bytes) -> bytes:
    """A server's WebSocket text frame (RFC 6455 5.2) around UTF-8 `payload`: FIN + opcode 1,
    unmasked, the length in 7, 16 or 64 bits."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class SocketGroup:
    """Some of the subscribed sockets (a socket's group follows from its sid), with what is
    waiting for them:

    - `plain[symbol][sid] = eio_sid`: sockets that get `quote:update` per quote, and `outbox`,
      the (symbol, message) of each quote not yet written to them, oldest first;
    - `batched[symbol][sid] = eio_sid`: sockets that get `quotes:update` batches, and
      `pending[symbol]`, the latest encoded quote of each symbol since the group's last flush.

    A socket is in `plain` or `batched` for a symbol, never both."""

    __slots__ = ("batched", "outbox", "pending", "plain")

    def __init__(self) -> None:
        self.plain: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self.outbox: list[tuple[str, bytes]] = []
        self.batched: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self.pending: dict[str, bytes] = {}


class QuoteFanout:
    """Who watches which symbol on this instance, and the writing of quote frames to them.

    The subscribed sockets are split into `SOCKET_GROUPS` groups, each written on its own turn:
    a pass of the plain sender, or a batch flush, writes one group after another, so that under
    load a quote waits for its socket's group rather than for a pass over every socket."""

    def __init__(self, eio: engineio.AsyncServer) -> None:
        self.eio = eio
        self.websockets: dict[str, DirectWebSocket] = {}
        # python-engineio keeps its async driver in a module-level dict, shared by every server
        # in the process: this server gets a copy with its own WebSocket class
        eio._async = {**eio._async, "websocket": self._websocket}
        eio.create_queue = LeanQueue  # each socket's outbound queue
        self.groups = [SocketGroup() for _ in range(SOCKET_GROUPS)]
        self._outbox_ready = asyncio.Event()
        self._since_yield = 0
        self.frames_direct = 0
        self.frames_queued = 0
        self.writes_direct = 0

    def _websocket(self, handler: Any, server: Any) -> DirectWebSocket:
        return DirectWebSocket(handler, server, self.websockets)

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, sid: str, eio_sid: str, symbols: Iterable[str], *, batch: bool) -> None:
        group = self.group_of(sid)
        into, out_of = (group.batched, group.plain) if batch else (group.plain, group.batched)
        for symbol in symbols:
            _discard(out_of, symbol, sid)
            into[symbol][sid] = eio_sid

    def unsubscribe(self, sid: str, symbols: Iterable[str]) -> None:
        group = self.group_of(sid)
        for symbol in symbols:
            _discard(group.plain, symbol, sid)
            _discard(group.batched, symbol, sid)

    def subscribers(self, symbol: str, *, batch: bool) -> dict[str, str]:
        """sid -> eio_sid of the sockets that get `symbol` in batches, or one by one."""
        return {
            sid: eio_sid
            for group in self.groups
            for sid, eio_sid in (group.batched if batch else group.plain).get(symbol, {}).items()
        }

    def group_of(self, sid: str) -> SocketGroup:
        return self.groups[hash(sid) % SOCKET_GROUPS]

    # ------------------------------------------------------------ pushes

    def publish(self, quote: Quote) -> None:
        """Queue one quote for its plain subscribers (see `send`) and keep it for the batching
        ones (see `flush`). Synchronous: the feed calls it for every tick."""
        symbol = quote.symbol
        encoded = encode_quote(quote)
        message = b""
        for group in self.groups:
            if symbol in group.batched:
                group.pending[symbol] = encoded
            if symbol in group.plain:
                message = message or _QUOTE_HEAD + encoded + b"]"
                group.outbox.append((symbol, message))
                self._outbox_ready.set()

    async def send(self) -> int:
        """Wait for queued quotes, then write them to their plain subscribers, group by group,
        oldest first. The sender task calls it in a loop. Returns how many frames were written.

        Every quote queued for a group since its last turn goes out in this one: each socket
        gets its frames of them in one write. While the loop keeps up that is one quote, one
        frame per write; when quotes arrive faster than they are written, more of them share
        each write, so the cost per frame falls as the load rises instead of the backlog
        growing."""
        await self._outbox_ready.wait()
        self._outbox_ready.clear()
        written = 0
        for group in self.groups:
            if not group.outbox:
                continue
            quotes, group.outbox = group.outbox, []
            # frames[eio_sid] = that socket's messages of this turn, in feed order
            frames: defaultdict[str, list[bytes]] = defaultdict(list)
            for symbol, message in quotes:
                for eio_sid in group.plain.get(symbol, {}).values():
                    frames[eio_sid].append(message)
            written += await self._write_all(frames)
        return written

    async def flush(self, group: int | None = None) -> int:
        """Send each batching socket of `group` (default: of every group) the latest quotes of
        its symbols since the group's last flush. Returns how many frames were written."""
        if group is None:
            return sum([await self.flush(n) for n in range(SOCKET_GROUPS)])
        batching = self.groups[group]
        pending, batching.pending = batching.pending, {}
        frames: defaultdict[str, list[bytes]] = defaultdict(list)
        for symbol, encoded in pending.items():
            for eio_sid in batching.batched.get(symbol, {}).values():
                frames[eio_sid].append(encoded)
        return await self._write_all(
            {sid: [_BATCH_HEAD + b",".join(quotes) + b"]}]"] for sid, quotes in frames.items()}
        )

    async def _write_all(self, frames: dict[str, list[bytes]]) -> int:
        """Write each socket its messages, letting the loop in every `WRITES_PER_TURN` sockets
        (counted across calls: groups of a few sockets each do not yield after every group)."""
        written = 0
        for eio_sid, messages in frames.items():
            written += self.write(eio_sid, *messages)
            self._since_yield += 1
            if self._since_yield >= WRITES_PER_TURN:
                self._since_yield = 0
                await asyncio.sleep(0)
        return written

    def write(self, eio_sid: str, *messages: bytes) -> int:
        """Write Engine.IO messages to one socket, in order, never waiting: their frames in one
        write when its WebSocket is ready, else through Engine.IO's queue. Returns how many
        were written (0: the socket is gone)."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return 0
        try:
            ws = self.websockets.get(eio_sid)
            if ws is not None and ws.ready(socket):
                ws.write(*messages)
                self.frames_direct += len(messages)
                self.writes_direct += 1
            else:
                for message in messages:
                    packet = engineio.packet.Packet(
                        engineio.packet.MESSAGE, data=message[1:].decode()
                    )
                    socket.queue.put_nowait(packet)
                self.frames_queued += len(messages)
        except Exception as exc:  # the connection went away meanwhile
            log.debug("quote frame not written", extra={"error": repr(exc)})
            return 0
        return len(messages)


def _discard(index: defaultdict[str, dict[str, str]], symbol: str, sid: str) -> None:
    subscribers = index.get(symbol)
    if subscribers is not None:
        subscribers.pop(sid, None)
        if not subscribers:
            del index[symbol]
