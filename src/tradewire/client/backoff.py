"""The reconnect delays of docs/WEBSOCKET.md ("Reconnecting").

Start at one second, or at the `reconnectAfterMs` of a `server:shutdown`; double after every
failed attempt up to a cap (30 s); each wait is the current delay times a random factor in
[0.5, 1.5), so thousands of clients do not come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Successive reconnect delays in seconds. `reset()` after a successful connect."""

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 30.0,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._rand = rand
        self._delay = initial

    @property
    def delay(self) -> float:
        """The delay the next wait is drawn around (before jitter)."""
        return self._delay

    def reset(self, start: float | None = None) -> None:
        """Start over at `initial`, or at `start` (a `server:shutdown`'s `reconnectAfterMs`
        in seconds), never above the cap."""
        self._delay = min(self.maximum, start if start is not None and start > 0 else self.initial)

    def next(self) -> float:
        """The wait before the next attempt; the following one is drawn around twice as much."""
        wait = self._delay * (0.5 + self._rand())
        self._delay = min(self._delay * 2, self.maximum)
        return wait
