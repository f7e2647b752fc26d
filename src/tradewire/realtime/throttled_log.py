"""Log lines about one client's bad input, at a bounded rate.

A hostile or broken client can send thousands of bad packets a second; a line for each would
drown the log (and cost more than the packets). `ThrottledLog` writes at most `burst` lines per
`period` seconds for each key and, when it writes again, says how many it left out.
"""

from __future__ import annotations

import logging
import time
from typing import Any


class ThrottledLog:
    def __init__(self, logger: logging.Logger, burst: int = 10, period: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.period = period
        # windows[key] = [window start, lines written in it, lines left out since the last one]
        self._windows: dict[str, list[float]] = {}

    def log(self, level: int, message: str, *, key: str, extra: dict[str, Any]) -> bool:
        """Log unless `key` used up its lines in this period; True when written."""
        if not self.logger.isEnabledFor(level):
            return False
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.period:
            suppressed = window[2] if window is not None else 0
            window = self._windows[key] = [now, 0, suppressed]
        if window[1] >= self.burst:
            window[2] += 1
            return False
        window[1] += 1
        if window[2]:
            extra = {**extra, "suppressed": int(window[2])}
            window[2] = 0
        self.logger.log(level, message, extra=extra)
        return True

    def info(self, message: str, *, key: str, extra: dict[str, Any]) -> bool:
        return self.log(logging.INFO, message, key=key, extra=extra)

    def warning(self, message: str, *, key: str, extra: dict[str, Any]) -> bool:
        return self.log(logging.WARNING, message, key=key, extra=extra)
