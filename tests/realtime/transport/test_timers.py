"""The timer wheel that drives every socket's heartbeat and timeouts."""

from __future__ import annotations

import time

from tradewire.realtime.timers import TimerWheel


class Item:
    def __init__(self) -> None:
        self.timer_slot: int | None = None
        self.fired = 0

    def timer_expired(self) -> None:
        self.fired += 1


def test_an_item_fires_once_at_its_deadline_and_not_before_one_resolution_early() -> None:
    wheel = TimerWheel(0.1)
    item = Item()
    now = time.monotonic()
    wheel.schedule(item, 1.0)
    assert wheel.expire(now + 0.85) == 0
    assert wheel.expire(now + 1.05) == 1
    assert item.fired == 1
    assert wheel.expire(now + 5) == 0
    assert item.timer_slot is None and len(wheel) == 0


def test_rescheduling_moves_the_deadline_and_cancel_removes_it() -> None:
    wheel = TimerWheel(0.1)
    moved, cancelled = Item(), Item()
    now = time.monotonic()
    wheel.schedule(moved, 0.5)
    wheel.schedule(cancelled, 0.5)
    wheel.schedule(moved, 2.0)
    wheel.cancel(cancelled)
    assert wheel.expire(now + 1.0) == 0
    assert wheel.expire(now + 2.1) == 1
    assert (moved.fired, cancelled.fired) == (1, 0)


def test_many_items_share_buckets() -> None:
    wheel = TimerWheel(0.5)
    items = [Item() for _ in range(10_000)]
    now = time.monotonic()
    for item in items:
        wheel.schedule(item, 1.0)
    assert len(wheel.buckets) <= 2
    assert wheel.expire(now + 1.6) == 10_000
