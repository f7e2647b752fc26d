"""Quote fan-out: who watches which symbol on this instance, and the quote frames to them.

- Each quote is encoded once, as JSON, when the feed publishes it.
- A plain subscriber (room `quote:{symbol}`) gets one `quote:update` per quote: the packet is
  made once and the same `Outgoing` (so the same framed bytes) is queued for every watching
  socket; the engine writes a socket's packets of one loop turn in one write, in order.
- A batching subscriber gets one `quotes:update` per flush with the latest quote of each of
  its symbols that changed. Batching sockets are split into `SOCKET_GROUPS` groups (room
  `quotes:{group}:{symbol}`), flushed one group after another across the batch interval, so
  that with thousands of sockets the writes of one round are spread over it rather than made
  in one burst.

This module only reaches this instance's own sockets: every instance gets every quote from
the feed (cluster/bus.py).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable

import orjson

from tradewire.realtime.engine import Engine, Outgoing
from tradewire.realtime.rooms import Rooms
from tradewire.realtime.sockets import Socket
from tradewire.schemas import Quote

log = logging.getLogger(__name__)

QUOTE_EVENT = "quote:update"
BATCH_EVENT = "quotes:update"
SOCKET_GROUPS = 8
"""Groups of batching sockets (by sid), each flushed on its own turn."""

_QUOTE_HEAD = b'42["' + QUOTE_EVENT.encode() + b'",'
_BATCH_HEAD = b'42["' + BATCH_EVENT.encode() + b'",{"quotes":['
"""What every `quote:update` / `quotes:update` message starts with, encoded once."""


def encode_quote(quote: Quote) -> bytes:
    return orjson.dumps(quote.wire())


def plain_room(symbol: str) -> str:
    return f"quote:{symbol}"


def batch_room(group: int, symbol: str) -> str:
    return f"quotes:{group}:{symbol}"


def group_of(sid: str) -> int:
    return zlib.crc32(sid.encode()) % SOCKET_GROUPS


def quote_packet(encoded: bytes) -> Outgoing:
    """A `quote:update` of one encoded quote; droppable: a newer quote replaces it."""
    return Outgoing(_QUOTE_HEAD + encoded + b"]", droppable=True)


def batch_packet(encoded_quotes: Iterable[bytes]) -> Outgoing:
    """A `quotes:update` of encoded quotes; droppable, like the quotes it carries."""
    return Outgoing(_BATCH_HEAD + b",".join(encoded_quotes) + b"]}]", droppable=True)


class QuoteFanout:
    def __init__(self, engine: Engine, rooms: Rooms[Socket]) -> None:
        self.engine = engine
        self.rooms = rooms
        # pending[group][symbol] = the latest encoded quote since that group's last flush
        self.pending: list[dict[str, bytes]] = [{} for _ in range(SOCKET_GROUPS)]
        self.has_pending = asyncio.Event()
        """Set while some group has a quote to flush: the flusher sleeps on it when idle."""
        self.frames = 0
        """Quote frames queued for sockets, plain and batched (a counter for metrics and tests)."""

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, socket: Socket, symbols: Iterable[str], *, batch: bool) -> None:
        group = group_of(socket.sid)
        for symbol in symbols:
            plain, batched = plain_room(symbol), batch_room(group, symbol)
            self.rooms.leave(socket, plain if batch else batched)
            self.rooms.join(socket, batched if batch else plain)

    def unsubscribe(self, socket: Socket, symbols: Iterable[str]) -> None:
        group = group_of(socket.sid)
        for symbol in symbols:
            self.rooms.leave(socket, plain_room(symbol))
            self.rooms.leave(socket, batch_room(group, symbol))

    def subscribers(self, symbol: str, *, batch: bool) -> list[Socket]:
        if not batch:
            return list(self.rooms.of(plain_room(symbol)))
        return [s for g in range(SOCKET_GROUPS) for s in self.rooms.of(batch_room(g, symbol))]

    # ------------------------------------------------------------ pushes

    def publish(self, quote: Quote) -> int:
        """Queue one quote for its plain subscribers and keep it for the batching ones (see
        `flush`). Synchronous: the feed calls it for every tick. Returns the frames queued."""
        symbol = quote.symbol
        encoded = encode_quote(quote)
        for group in range(SOCKET_GROUPS):
            if self.rooms.count(batch_room(group, symbol)):
                self.pending[group][symbol] = encoded
                self.has_pending.set()
        watching = self.rooms.of(plain_room(symbol))
        if not watching:
            return 0
        outgoing = quote_packet(encoded)
        queued = self.engine.send_many((s.connection.engine_socket for s in watching), outgoing)
        self.frames += queued
        return queued

    def resend(self, socket: Socket, quotes: Iterable[Quote], *, batch: bool) -> None:
        """Send one socket the latest `quotes` of its symbols, as it gets quotes (one batch, or
        one `quote:update` each): after quotes were dropped for it while it did not read."""
        encoded = [encode_quote(q) for q in quotes]
        if not encoded:
            return
        engine_socket = socket.connection.engine_socket
        if batch:
            engine_socket.send(batch_packet(encoded))
        else:
            for one in encoded:
                engine_socket.send(quote_packet(one))
        self.frames += 1 if batch else len(encoded)

    def flush(self, group: int | None = None) -> int:
        """Send each batching socket of `group` (default: of every group) the latest quotes of
        its symbols since the group's last flush. Returns how many frames were queued."""
        if group is None:
            return sum(self.flush(n) for n in range(SOCKET_GROUPS))
        pending, self.pending[group] = self.pending[group], {}
        if not any(self.pending):
            self.has_pending.clear()
        # quotes[socket] = the encoded quotes of its symbols, in the order they came
        quotes: dict[Socket, list[bytes]] = {}
        for symbol, encoded in pending.items():
            for socket in self.rooms.of(batch_room(group, symbol)):
                quotes.setdefault(socket, []).append(encoded)
        for socket, encoded_quotes in quotes.items():
            socket.connection.engine_socket.send(batch_packet(encoded_quotes))
        self.frames += len(quotes)
        return len(quotes)
