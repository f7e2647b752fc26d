"""One timer wheel for every socket: heartbeats, connect and upgrade timeouts.

A socket does not get a task or an `asyncio` timer of its own. Anything with a deadline is put
in the wheel's bucket for that deadline (rounded down to the wheel's resolution), and one task
wakes every `resolution` seconds, takes the buckets that came due and calls each item's
`timer_expired()`. Scheduling and cancelling are a dict insert and delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Timed(Protocol):
    """What the wheel holds: `timer_slot` is the wheel's to set (None: not scheduled)."""

    timer_slot: int | None

    def timer_expired(self) -> None: ...


class TimerWheel:
    """Deadlines at `resolution` granularity: an item fires at most `resolution` early (a
    heartbeat's ping and its timeout are never later than promised)."""

    def __init__(self, resolution: float) -> None:
        self.resolution = resolution
        # buckets[slot] = items due in that slot (a dict as an ordered set)
        self.buckets: dict[int, dict[Timed, None]] = {}
        self._cursor = math.floor(time.monotonic() / self.resolution)
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.buckets.values())

    def schedule(self, item: Timed, delay: float) -> None:
        """Fire `item` once, `delay` seconds from now; replaces its earlier deadline."""
        self.cancel(item)
        slot = max(math.floor((time.monotonic() + delay) / self.resolution), self._cursor + 1)
        self.buckets.setdefault(slot, {})[item] = None
        item.timer_slot = slot

    def cancel(self, item: Timed) -> None:
        slot = item.timer_slot
        if slot is None:
            return
        item.timer_slot = None
        bucket = self.buckets.get(slot)
        if bucket is not None:
            bucket.pop(item, None)
            if not bucket:
                del self.buckets[slot]

    def expire(self, now: float | None = None) -> int:
        """Fire every item due by `now`; returns how many fired."""
        last = math.floor((time.monotonic() if now is None else now) / self.resolution)
        fired = 0
        while self._cursor < last:
            self._cursor += 1
            bucket = self.buckets.pop(self._cursor, None)
            if not bucket:
                continue
            for item in bucket:
                item.timer_slot = None
                fired += 1
                try:
                    item.timer_expired()
                except Exception:
                    log.exception("timer callback failed")
        return fired

    def start(self) -> None:
        if self._task is None:
            self._cursor = max(self._cursor, math.floor(time.monotonic() / self.resolution))
            self._task = asyncio.create_task(self._run(), name="timer-wheel")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.resolution)
            self.expire()
