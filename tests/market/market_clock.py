"""Test helper: a fake clock for quote sources. (A module of its own, not conftest, so tests
can import it by a name no other test directory uses.)"""

from __future__ import annotations

import asyncio


class FakeTime:
    """A clock and an asyncio-style sleep that advances it instantly.

    Sources under test run as fast as the CPU allows and still see consistent time; `sleeps`
    records every requested delay."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)  # still yield, like a real sleep, so other tasks run
