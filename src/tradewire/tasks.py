"""Stopping background tasks without hanging a shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

STOP_TIMEOUT = 2.0


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, timeout: float = STOP_TIMEOUT) -> None:
    """Cancel `tasks` and wait up to `timeout` seconds for them to end.

    The wait is bounded because a cancellation can be swallowed: redis-py's asyncio client on
    Python 3.11 wraps socket I/O in `asyncio.wait_for`, which may drop a cancel that lands at
    the wrong moment. Loops that must end therefore also check a stop flag of their own."""
    live = [t for t in tasks if t is not None and not t.done()]
    for task in live:
        task.cancel()
    if live:
        await asyncio.wait(live, timeout=timeout)
