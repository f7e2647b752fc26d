"""Latest-quote cache: the newest `Quote` per symbol, shared by everything that prices things.

The market feed is the only writer; order execution, portfolio valuation and the Socket.IO
snapshot on subscribe are readers. `MemoryQuoteCache` serves one process; `RedisQuoteCache`
shares the quotes between instances. Pick one with `quote_cache_from_url`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

import orjson
from pydantic import ValidationError
from redis.asyncio import BlockingConnectionPool, Redis

from tradewire.schemas import Quote

logger = logging.getLogger(__name__)

DEFAULT_REDIS_KEY = "tradewire:quotes"
POOL_TIMEOUT = 5.0
"""Seconds a Redis command waits for a free pooled connection before raising."""


class QuoteCache(Protocol):
    """The latest quote per symbol.

    Contract, the same for every backend:
    - Latest value wins per symbol: `put` replaces the stored quote unless the new quote's `seq`
      is lower than the stored one, so a late or out-of-order write never moves a symbol back in
      time. Equal `seq` replaces. The one exception is `seq == 1`, which always replaces: it marks
      a source that (re)started its session, e.g. after a service restart with a Redis cache
      that still holds the previous run's quotes.
    - Reads return what the backend holds now: `latest` gives None for a symbol never put,
      `latest_many` omits such symbols, `all` lists every stored quote sorted by symbol.
    - What one node sees: the memory cache holds what this process put. The Redis cache holds
      what any instance put to the same Redis key, visible to all instances as soon as `put`
      returns. No expiry: a quote stays until replaced.
    - `close` releases connections; the cache is not used after it.
    """

    async def put(self, quote: Quote) -> None: ...

    async def latest(self, symbol: str) -> Quote | None: ...

    async def latest_many(self, symbols: Iterable[str]) -> dict[str, Quote]: ...

    async def all(self) -> list[Quote]: ...

    async def close(self) -> None: ...


def _supersedes(new: Quote, current: Quote | None) -> bool:
    return current is None or new.seq == 1 or new.seq >= current.seq


class MemoryQuoteCache:
    """In-process cache for a single instance. `peek` reads it without awaiting."""

    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}  # symbol -> latest quote

    def peek(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    async def put(self, quote: Quote) -> None:
        if _supersedes(quote, self._quotes.get(quote.symbol)):
            self._quotes[quote.symbol] = quote

    async def latest(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    async def latest_many(self, symbols: Iterable[str]) -> dict[str, Quote]:
        return {s: q for s in symbols if (q := self._quotes.get(s)) is not None}

    async def all(self) -> list[Quote]:
        return sorted(self._quotes.values(), key=lambda q: q.symbol)

    async def close(self) -> None:
        self._quotes.clear()


# Atomic "put unless older": KEYS[1] = hash, ARGV = symbol, seq, quote JSON.
# Returns nil when stored, else the quote JSON that is kept (so the caller can refresh its mirror).
# A stored value that is not decodable JSON with a seq is overwritten.
_PUT_SCRIPT = """
local new_seq = tonumber(ARGV[2])
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and new_seq ~= 1 then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and type(decoded['seq']) == 'number'
      and new_seq < decoded['seq'] then
    return current
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return false
"""


class RedisQuoteCache:
    """Quotes in one Redis hash, `key` (default "tradewire:quotes"): symbol -> quote JSON (the
    camelCase `Quote.wire()` form), shared by every instance using the same Redis and key.

    `put` is a small Lua script, so the seq check and the write are atomic across instances.
    `peek` reads a local mirror of what this instance last wrote or read; it can lag quotes
    written by other instances, so use the async reads where that matters.
    """

    def __init__(
        self, redis: Redis, *, key: str = DEFAULT_REDIS_KEY, owns_client: bool = False
    ) -> None:
        self._redis = redis
        self._key = key
        self._owns_client = owns_client
        self._put_script = redis.register_script(_PUT_SCRIPT)
        self._mirror: dict[str, Quote] = {}  # symbol -> last quote seen by this instance

    @classmethod
    def from_url(
        cls, url: str, *, key: str = DEFAULT_REDIS_KEY, max_connections: int = 32
    ) -> RedisQuoteCache:
        """A cache with its own client for `url`; `close` closes that client. Beyond
        `max_connections` concurrent commands, callers wait for a free connection (up to
        `POOL_TIMEOUT` seconds) instead of failing, so a burst of reads queues."""
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=POOL_TIMEOUT
        )
        return cls(Redis.from_pool(pool), key=key, owns_client=True)

    def peek(self, symbol: str) -> Quote | None:
        return self._mirror.get(symbol)

    async def put(self, quote: Quote) -> None:
        kept = await self._put_script(
            keys=[self._key], args=[quote.symbol, quote.seq, orjson.dumps(quote.wire())]
        )
        if kept is None:
            self._mirror[quote.symbol] = quote
        else:
            self._remember(quote.symbol, kept)

    async def latest(self, symbol: str) -> Quote | None:
        return self._remember(symbol, await self._redis.hget(self._key, symbol))

    async def latest_many(self, symbols: Iterable[str]) -> dict[str, Quote]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        raws = await self._redis.hmget(self._key, wanted)
        found = {s: self._remember(s, raw) for s, raw in zip(wanted, raws, strict=True)}
        return {s: q for s, q in found.items() if q is not None}

    async def all(self) -> list[Quote]:
        stored = await self._redis.hgetall(self._key)
        found = (self._remember(_text(s), raw) for s, raw in stored.items())
        return sorted((q for q in found if q is not None), key=lambda q: q.symbol)

    async def close(self) -> None:
        self._mirror.clear()
        if self._owns_client:
            await self._redis.aclose()

    def _remember(self, symbol: str, raw: bytes | str | None) -> Quote | None:
        """Decode a stored quote and refresh the mirror; an undecodable entry reads as None."""
        if raw is None:
            return None
        try:
            quote = Quote.model_validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            logger.warning(
                "undecodable quote in redis cache",
                extra={"key": self._key, "symbol": symbol, "reason": str(exc)},
            )
            return None
        self._mirror[symbol] = quote
        return quote


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def quote_cache_from_url(url: str) -> QuoteCache:
    """ "" or "memory://": `MemoryQuoteCache`; "redis://", "rediss://" or "unix://": a
    `RedisQuoteCache` on that server (key "tradewire:quotes"). Anything else: `ValueError`."""
    if url in ("", "memory://"):
        return MemoryQuoteCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisQuoteCache.from_url(url)
    scheme, sep, _ = url.partition("://")
    what = f"scheme {scheme!r}" if sep else "value (no scheme)"
    raise ValueError(f"unsupported quote cache URL {what}: use 'memory://' or 'redis://...'")
