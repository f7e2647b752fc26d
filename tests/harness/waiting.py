"""Polling for explicit readiness, with a deadline that says what it was waiting for.

Tests wait on a condition a user could observe (a port answers, a health endpoint says 200, a
message arrived), never on a bare `sleep`. Every wait has a timeout, and when it runs out the
error names the thing that never happened.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


def _timeout_error(timeout: float, what: str) -> TimeoutError:
    return TimeoutError(f"timed out after {timeout}s waiting for {what}")


# ASYNC109: `timeout` is the deadline of the whole polling, not of one awaited call.
@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    interval: float = ...,
) -> T: ...
@overload
async def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = ...,
) -> T: ...
async def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> object:
    """Call `predicate` (sync or async) every `interval` seconds until it returns something truthy.

    Returns that value. Exceptions from the predicate propagate at once: a predicate that probes
    something not yet up (a refused connection) catches that itself and returns False.
    Raises `TimeoutError("timed out after {timeout}s waiting for {what}")` when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timeout_error(timeout, what)
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> T:
    """Blocking twin of `wait_until`, for sync code (fixtures, server start-up)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timeout_error(timeout, what)
        time.sleep(interval)


async def clear_of_a_minute_edge(needed: float = 10.0) -> None:
    """Return when the next `needed` seconds hold no whole minute of the clock.

    The rate limits are sliding-window counters on clock-aligned minutes: a hit just after the
    minute turns counts the previous minute's hits weighted by how much of the window is left,
    and the floor of that lets one more through. A test that counts exactly how many hits a
    limit allows runs all of them inside one minute."""
    if time.time() % 60 > 60 - needed:
        await asyncio.sleep(60.2 - time.time() % 60)
