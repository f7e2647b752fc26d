"""Quote fan-out: each quote encoded once, its frames written straight to each socket.

python-socketio's `emit` to a room starts one task per recipient and wakes each recipient's
Engine.IO writer task once per message. With thousands of sockets that bookkeeping, not the
network, is what limits the server (docs/BENCHMARKS.md). Quotes are the one message that goes
to many sockets many times a second, so they take this path instead:

- each quote is encoded once, as JSON text, when the feed publishes it;
- a plain subscriber gets `quote:update` per quote (one sender task writes them, in the
  order the feed made them); a batching subscriber gets one `quotes:update` frame per flush,
  with the latest quote of each of its symbols that changed;
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
from collections import defaultdict, deque
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
    application (2.3 KB less per connection). `tradewire serve` runs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]  # the methods uvicorn calls


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


class QuoteFanout:
    """Who watches which symbol on this instance, and the writing of quote frames to them.

    Indexes: `plain[symbol][sid] = eio_sid` (sockets that get `quote:update` per quote) and
    `batched[symbol][sid] = eio_sid` (sockets that get `quotes:update` batches). A socket is in
    one of the two for a symbol, never both."""

    def __init__(self, eio: engineio.AsyncServer) -> None:
        self.eio = eio
        self.websockets: dict[str, DirectWebSocket] = {}
        # python-engineio keeps its async driver in a module-level dict, shared by every server
        # in the process: this server gets a copy with its own WebSocket class
        eio._async = {**eio._async, "websocket": self._websocket}
        eio.create_queue = LeanQueue  # each socket's outbound queue
        self.plain: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self.batched: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self._pending: dict[str, bytes] = {}
        """symbol -> the latest encoded quote since the last flush (batching sockets only)."""
        self._outbox: deque[tuple[str, bytes]] = deque()
        """(symbol, `quote:update` message) for the plain subscribers, oldest first."""
        self._outbox_ready = asyncio.Event()
        self.frames_direct = 0
        self.frames_queued = 0
        self.writes_direct = 0

    def _websocket(self, handler: Any, server: Any) -> DirectWebSocket:
        return DirectWebSocket(handler, server, self.websockets)

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, sid: str, eio_sid: str, symbols: Iterable[str], *, batch: bool) -> None:
        into, out_of = (self.batched, self.plain) if batch else (self.plain, self.batched)
        for symbol in symbols:
            _discard(out_of, symbol, sid)
            into[symbol][sid] = eio_sid

    def unsubscribe(self, sid: str, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            _discard(self.plain, symbol, sid)
            _discard(self.batched, symbol, sid)

    # ------------------------------------------------------------ pushes

    def publish(self, quote: Quote) -> None:
        """Queue one quote for its plain subscribers (see `send`) and keep it for the batching
        ones (see `flush`). Synchronous: the feed calls it for every tick."""
        encoded = encode_quote(quote)
        if quote.symbol in self.batched:
            self._pending[quote.symbol] = encoded
        if quote.symbol in self.plain:
            self._outbox.append((quote.symbol, _QUOTE_HEAD + encoded + b"]"))
            self._outbox_ready.set()

    async def send(self) -> int:
        """Wait for queued quotes, then write them to their plain subscribers, oldest first.
        The sender task calls it in a loop. Returns how many frames were written.

        Every quote queued since the last pass goes out in this one: each socket gets its
        frames of the pass in one write. While the loop keeps up that is one quote, one frame
        per write; when quotes arrive faster than they are written, more of them share each
        write, so the cost per frame falls as the load rises instead of the backlog growing."""
        await self._outbox_ready.wait()
        self._outbox_ready.clear()
        written = 0
        while self._outbox:
            quotes = list(self._outbox)
            self._outbox.clear()
            # frames[eio_sid] = that socket's messages of this pass, in feed order
            frames: defaultdict[str, list[bytes]] = defaultdict(list)
            for symbol, message in quotes:
                for eio_sid in self.plain.get(symbol, {}).values():
                    frames[eio_sid].append(message)
            written += await self._write_all(frames)
        return written

    async def flush(self) -> int:
        """Send each batching socket the latest quotes of its symbols since the last flush.

        Returns how many frames were written."""
        pending, self._pending = self._pending, {}
        frames: defaultdict[str, list[bytes]] = defaultdict(list)
        for symbol, encoded in pending.items():
            for eio_sid in self.batched.get(symbol, {}).values():
                frames[eio_sid].append(encoded)
        return await self._write_all(
            {sid: [_BATCH_HEAD + b",".join(quotes) + b"]}]"] for sid, quotes in frames.items()}
        )

    async def _write_all(self, frames: dict[str, list[bytes]]) -> int:
        """Write each socket its messages, letting the loop in every `WRITES_PER_TURN` sockets."""
        written = 0
        for n, (eio_sid, messages) in enumerate(frames.items(), start=1):
            written += self.write(eio_sid, *messages)
            if n % WRITES_PER_TURN == 0:
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
