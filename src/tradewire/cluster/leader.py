"""Which instance runs the market feed: a lease in Redis with a short TTL.

The holder renews the lease every `RENEW_EVERY` seconds; an instance that dies stops renewing
and another takes over within `TTL` + `RENEW_EVERY` seconds. Acquire is `SET key id NX PX ttl`;
renew and release are compare-and-set scripts, so an instance never extends or deletes a lease it
no longer holds. If Redis cannot be reached, the holder steps down when its lease would have
expired, so two feeds never run for longer than that.

Without Redis (one process) the instance is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from tradewire.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LEASE_KEY = "tradewire:feed-leader"
TTL = 3.0
RENEW_EVERY = 1.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

Callback = Callable[[], Awaitable[None]]


class LeaderLease:
    def __init__(
        self,
        redis_url: str,
        on_acquired: Callback,
        on_lost: Callback,
        *,
        key: str = LEASE_KEY,
        ttl: float = TTL,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.instance_id = uuid.uuid4().hex[:12]
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            if redis_url
            else None
        )
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self.key, self.ttl, self.renew_every = key, ttl, renew_every
        self.is_leader = False
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        if self._redis is None:
            await self._become_leader()
            return
        await self._tick()
        self._task = asyncio.create_task(self._run(), name="leader-lease")

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.renew_every)
            await self._tick()

    async def _tick(self) -> None:
        assert self._redis is not None
        ttl_ms = int(self.ttl * 1000)
        try:
            held = self.is_leader and await self._redis.eval(
                _RENEW, 1, self.key, self.instance_id, ttl_ms
            )
            if not held:
                # not leader, or the lease vanished (Redis restarted empty): take it if free
                held = await self._redis.set(self.key, self.instance_id, nx=True, px=ttl_ms)
        except Exception as exc:
            log.warning("leader lease check failed", extra={"error": repr(exc)})
            if self.is_leader and time.monotonic() >= self._valid_until:
                await self._lose("lease expired while Redis was unreachable")
            return
        if held:
            self._valid_until = time.monotonic() + self.ttl
            if not self.is_leader:
                await self._become_leader()
        elif self.is_leader:
            await self._lose("lease taken by another instance")

    async def _become_leader(self) -> None:
        self.is_leader = True
        log.info("this instance now runs the market feed", extra={"instance": self.instance_id})
        await self._on_acquired()

    async def _lose(self, reason: str) -> None:
        self.is_leader = False
        log.warning(
            "this instance stopped running the market feed",
            extra={"instance": self.instance_id, "reason": reason},
        )
        await self._on_lost()

    async def stop(self) -> None:
        """Step down (releasing the lease at once, so another instance takes over fast)."""
        if self._task is not None:
            self._stopping = True
            await cancel_and_wait(self._task)
            self._task = None
        if self.is_leader:
            self.is_leader = False
            await self._on_lost()
            if self._redis is not None:
                with contextlib.suppress(Exception):
                    await self._redis.eval(_RELEASE, 1, self.key, self.instance_id)
        if self._redis is not None:
            await self._redis.aclose()
