"""Rate limiting on the `limits` library: in memory by default, in Redis when `REDIS_URL` is set
(so one user's limit is one limit across every instance).

Sliding-window counters: cheap (two counters per key), no burst at window edges.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger(__name__)


def storage_from_url(redis_url: str) -> Storage:
    if redis_url:
        return RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="tradewire:limits",
            wrap_exceptions=True,
        )
    return MemoryStorage()


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *keys: str) -> int | None:
        """Count one hit. None when allowed; else milliseconds until a retry can succeed.

        When the storage is unreachable (Redis down) the hit is allowed: an outage of the
        limiter must not lock every user out. The failure is logged."""
        try:
            if await self._limiter.hit(item, *keys):
                return None
            stats = await self._limiter.get_window_stats(item, *keys)
        except Exception as exc:
            log.warning("rate limiter unavailable; allowing", extra={"error": repr(exc)})
            return None
        return max(1, int((stats.reset_time - time.time()) * 1000))

    async def clear(self, item: RateLimitItem, *keys: str) -> None:
        await self._limiter.clear(item, *keys)


__all__ = ["RateLimitItem", "RateLimiter", "parse", "storage_from_url"]
