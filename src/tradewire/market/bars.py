"""Intraday bars: one-minute OHLC bars of `last` prices per symbol, built from the feed's quotes.

The instance that runs the market source is the only writer: the feed hands every quote it
publishes to `BarRecorder` (see `MarketFeed`'s "published" event), which writes them to the
store in batches, off the feed loop. Every instance reads, for `GET /api/quotes/{symbol}/bars`.
`MemoryBarStore` serves one process; `RedisBarStore` shares the bars between instances. Pick one
with `bar_store_from_url`, like the quote cache.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol, cast

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

from tradewire.schemas import Bar, Quote
from tradewire.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

BAR_SECONDS = 60
MAX_BARS = 480
"""Bars kept per symbol: the last 8 hours of one-minute bars."""
DEFAULT_REDIS_PREFIX = "tradewire:bars:1m"
POOL_TIMEOUT = 5.0
"""Seconds a Redis command waits for a free pooled connection before raising."""


def bar_start(ts_ms: int) -> int:
    """Start of the minute that holds `ts_ms` (epoch milliseconds), in UTC epoch seconds."""
    return ts_ms // 1000 // BAR_SECONDS * BAR_SECONDS


class BarStore(Protocol):
    """The newest `MAX_BARS` one-minute bars per symbol.

    Contract, the same for every backend:
    - A quote is a tick: its `last` price at its `ts`. It belongs to the bar of the minute of
      its `ts` (UTC). In a bar, `open` is the price of the earliest tick by `ts` and `close` of
      the latest (on equal `ts`, the one recorded later); `high` and `low` are the extremes;
      `volume` is how many ticks were recorded. So ticks recorded out of order make the same
      bar as in order, and recording a quote twice counts it twice.
    - A late tick, for a minute before the newest bar, updates that minute's bar or makes it
      where it is missing, unless the window is full and the tick is older than its oldest bar:
      then it is dropped.
    - Bound: at most `max_bars` bars per symbol (default `MAX_BARS`); a bar beyond that drops
      the oldest. A minute without ticks has no bar, so bars can have gaps.
    - `recent(symbol, limit)` gives the newest `limit` bars (limit >= 1), oldest first, with
      strictly increasing `time`; [] for a symbol never recorded.
    - What one node sees: the memory store holds what this process recorded. The Redis store
      holds what any instance recorded under the same key prefix, visible to every instance
      once `record` returns, and kept across restarts. Nothing expires but by the bound.
    - `close` releases connections; the store is not used after it.
    """

    async def record(self, quotes: Sequence[Quote]) -> None: ...

    async def recent(self, symbol: str, limit: int) -> list[Bar]: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Building:
    """A bar as stored: the wire fields plus the `ts` of its first and last tick."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    first_ts: int
    last_ts: int

    @classmethod
    def first_tick(cls, price: Decimal, ts: int) -> _Building:
        return cls(bar_start(ts), price, price, price, price, 1, ts, ts)

    def add(self, price: Decimal, ts: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        if ts >= self.last_ts:
            self.close, self.last_ts = price, ts
        if ts < self.first_ts:
            self.open, self.first_ts = price, ts
        self.volume += 1

    def bar(self) -> Bar:
        return Bar(
            time=self.time,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
        )


class MemoryBarStore:
    """In-process bars for a single instance."""

    def __init__(self, max_bars: int = MAX_BARS) -> None:
        if max_bars < 1:
            raise ValueError("max_bars must be at least 1")
        self._max = max_bars
        self._bars: dict[str, list[_Building]] = {}  # symbol -> bars, oldest first

    async def record(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self._add(quote.symbol, quote.last, quote.ts)

    def _add(self, symbol: str, price: Decimal, ts: int) -> None:
        bars = self._bars.setdefault(symbol, [])
        start = bar_start(ts)
        if bars and bars[-1].time == start:  # the common case: the current minute
            bars[-1].add(price, ts)
            return
        at = bisect.bisect_left(bars, start, key=lambda b: b.time)
        if at < len(bars) and bars[at].time == start:
            bars[at].add(price, ts)
            return
        if at == 0 and len(bars) >= self._max:
            return  # older than everything a full window keeps
        bars.insert(at, _Building.first_tick(price, ts))
        if len(bars) > self._max:
            del bars[0]

    async def recent(self, symbol: str, limit: int) -> list[Bar]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return [b.bar() for b in self._bars.get(symbol, [])[-limit:]]

    async def close(self) -> None:
        self._bars.clear()


# One tick into one symbol's bars, atomically. KEYS[1] = sorted set of the symbol's bars
# (score = bar start, member = bar JSON {t, o, h, l, c, v, f, z}: f and z are the ts of the
# first and last tick); ARGV = bar start, price (decimal string), ts, max bars.
# Prices are compared as Lua numbers (doubles) but stored as the strings given: every price
# the service makes has at most 15 significant digits, which doubles order exactly.
_ADD_SCRIPT = """
local start = tonumber(ARGV[1])
local price = ARGV[2]
local ts = tonumber(ARGV[3])
local found = redis.call('ZRANGEBYSCORE', KEYS[1], start, start)
if #found > 0 then
  local bar = cjson.decode(found[1])
  local p = tonumber(price)
  if p > tonumber(bar.h) then bar.h = price end
  if p < tonumber(bar.l) then bar.l = price end
  if ts >= tonumber(bar.z) then bar.c = price; bar.z = ARGV[3] end
  if ts < tonumber(bar.f) then bar.o = price; bar.f = ARGV[3] end
  bar.v = bar.v + 1
  redis.call('ZREM', KEYS[1], unpack(found))
  redis.call('ZADD', KEYS[1], start, cjson.encode(bar))
  return 1
end
local max = tonumber(ARGV[4])
if redis.call('ZCARD', KEYS[1]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if start < tonumber(oldest[2]) then return 0 end
end
local bar = {t = start, o = price, h = price, l = price, c = price, v = 1,
             f = ARGV[3], z = ARGV[3]}
redis.call('ZADD', KEYS[1], start, cjson.encode(bar))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(max + 1))
return 1
"""


class RedisBarStore:
    """Bars in one Redis sorted set per symbol, `{prefix}:{symbol}` (default prefix
    "tradewire:bars:1m"), scored by bar start. Each tick is one small Lua script, so reading and
    updating a bar is atomic across instances; `record` sends a batch in one round trip."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        max_bars: int = MAX_BARS,
        owns_client: bool = False,
    ) -> None:
        if max_bars < 1:
            raise ValueError("max_bars must be at least 1")
        self._redis = redis
        self._prefix = prefix
        self._max = max_bars
        self._owns_client = owns_client
        self._add_script = redis.register_script(_ADD_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        max_bars: int = MAX_BARS,
        max_connections: int = 16,
    ) -> RedisBarStore:
        """A store with its own client for `url`; `close` closes that client."""
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=POOL_TIMEOUT
        )
        return cls(Redis.from_pool(pool), prefix=prefix, max_bars=max_bars, owns_client=True)

    def _key(self, symbol: str) -> str:
        return f"{self._prefix}:{symbol}"

    async def record(self, quotes: Sequence[Quote]) -> None:
        if not quotes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for q in quotes:
                await self._add_script(
                    keys=[self._key(q.symbol)],
                    args=[bar_start(q.ts), format(q.last, "f"), q.ts, self._max],
                    client=pipe,
                )
            await pipe.execute()

    async def recent(self, symbol: str, limit: int) -> list[Bar]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        raws = await self._redis.zrange(self._key(symbol), -limit, -1)
        bars = (self._decode(symbol, raw) for raw in cast("list[bytes]", raws))
        return [b for b in bars if b is not None]

    def _decode(self, symbol: str, raw: bytes | str) -> Bar | None:
        """A stored bar; an undecodable member reads as None (and is logged)."""
        try:
            d = orjson.loads(raw)
            return Bar(
                time=int(d["t"]),
                open=Decimal(d["o"]),
                high=Decimal(d["h"]),
                low=Decimal(d["l"]),
                close=Decimal(d["c"]),
                volume=int(d["v"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            logger.warning(
                "undecodable bar in redis",
                extra={"key": self._key(symbol), "reason": repr(exc)},
            )
            return None

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def bar_store_from_url(url: str) -> BarStore:
    """ "" or "memory://": `MemoryBarStore`; "redis://", "rediss://" or "unix://": a
    `RedisBarStore` on that server. Anything else: `ValueError`."""
    if url in ("", "memory://"):
        return MemoryBarStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBarStore.from_url(url)
    scheme, sep, _ = url.partition("://")
    what = f"scheme {scheme!r}" if sep else "value (no scheme)"
    raise ValueError(f"unsupported bar store URL {what}: use 'memory://' or 'redis://...'")


class BarRecorder:
    """Writes the quotes the feed publishes to a `BarStore`, in batches, from one task.

    `on_quote` is a sync feed listener: it only queues the quote, so the feed loop never waits
    on the store. Up to `max_pending` quotes wait; beyond that (the store far behind or down)
    new quotes are dropped, and a failing write drops its batch; both are logged once per
    outage. `stop` does not write what is still queued.
    """

    def __init__(self, store: BarStore, *, max_pending: int = 10_000, batch: int = 500) -> None:
        self.store = store
        self._pending: asyncio.Queue[Quote] = asyncio.Queue(max_pending)
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._dropping = False
        self._failing = False
        self._writing = False

    @property
    def idle(self) -> bool:
        """Nothing queued and no write in progress: every quote handed over is in the store."""
        return self._pending.empty() and not self._writing

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._write_forever(), name="bar-recorder")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        self._task = None

    def on_quote(self, quote: Quote) -> None:
        try:
            self._pending.put_nowait(quote)
        except asyncio.QueueFull:
            if not self._dropping:
                self._dropping = True
                logger.error(
                    "bar recorder is behind; dropping quotes",
                    extra={"symbol": quote.symbol, "pending": self._pending.qsize()},
                )
        else:
            self._dropping = False

    async def _write_forever(self) -> None:
        while not self._stopping:
            batch = [await self._pending.get()]
            while len(batch) < self._batch and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            self._writing = True
            try:
                await self.store.record(batch)
            except Exception as exc:
                if not self._failing:
                    self._failing = True
                    logger.error(
                        "bar store write failed; bars miss these ticks",
                        exc_info=exc,
                        extra={"quotes": len(batch)},
                    )
            else:
                if self._failing:
                    self._failing = False
                    logger.info("bar store writes recovered")
            finally:
                self._writing = False
