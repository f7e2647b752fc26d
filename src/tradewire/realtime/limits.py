"""Per-user, per-event rate limits for Socket.IO events, and the flood guard.

Every limit lives here, as a named constant, and is documented in docs/WEBSOCKET.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from limits import RateLimitItem, parse

from tradewire import metrics
from tradewire.ratelimit import RateLimiter

log = logging.getLogger(__name__)

SUBSCRIBE_PORTFOLIO_LIMIT = "30/minute"
SUBSCRIBE_TRADES_LIMIT = "30/minute"
SUBSCRIBE_WATCHLIST_LIMIT = "60/minute"
UNSUBSCRIBE_WATCHLIST_LIMIT = "60/minute"
SUBSCRIBE_OPS_LIMIT = "30/minute"
UNSUBSCRIBE_OPS_LIMIT = "30/minute"
DEFAULT_EVENT_LIMIT = "120/minute"
"""Every other event, unknown events included."""

EVENT_LIMITS: dict[str, str] = {
    "subscribe:portfolio": SUBSCRIBE_PORTFOLIO_LIMIT,
    "subscribe:trades": SUBSCRIBE_TRADES_LIMIT,
    "subscribe:watchlist": SUBSCRIBE_WATCHLIST_LIMIT,
    "unsubscribe:watchlist": UNSUBSCRIBE_WATCHLIST_LIMIT,
    "subscribe:ops": SUBSCRIBE_OPS_LIMIT,
    "unsubscribe:ops": UNSUBSCRIBE_OPS_LIMIT,
}

ABUSE_WINDOW_SECONDS = 10.0
ABUSE_MAX_REJECTED = 300
"""A socket whose events are refused this many times within the window is disconnected."""

MAX_TRACKED_EVENT_NAME = 64
"""Unknown event names are counted under one key so a client cannot grow our tables."""


@dataclass(slots=True)
class _Block:
    until: float


@dataclass(slots=True)
class _Abuse:
    window_start: float = 0.0
    rejected: int = 0


@dataclass
class EventGuard:
    """Checks one event of one user against its limit, before the handler runs.

    Once a user is over a limit, further events of that kind are refused from a local
    deadline without touching the shared storage, so a flood costs a dict lookup per event.
    The storage (memory or Redis) stays the authority: the deadline is what it answered.

    Every refused event is counted (`tradewire_socket_rate_limited_total`); the warning is
    logged once per user and event kind per limit window, however long the abuse goes on."""

    limiter: RateLimiter
    items: dict[str, RateLimitItem] = field(init=False)
    default_item: RateLimitItem = field(init=False)
    _blocked: dict[tuple[int, str], _Block] = field(default_factory=dict, init=False)
    # _quiet_until[(user_id, key)] = monotonic time before which that user is not logged again
    _quiet_until: dict[tuple[int, str], float] = field(default_factory=dict, init=False)
    _abuse: dict[str, _Abuse] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.items = {event: parse(limit) for event, limit in EVENT_LIMITS.items()}
        self.default_item = parse(DEFAULT_EVENT_LIMIT)

    def limit_key(self, event: str) -> str:
        return event if event in self.items else "*"

    async def check(self, user_id: int, event: str) -> int | None:
        """None when the event may run; else the milliseconds until it may."""
        key = self.limit_key(event)
        now = time.monotonic()
        block = self._blocked.get((user_id, key))
        if block is not None:
            if now < block.until:
                metrics.RATE_LIMITED.labels(event=key).inc()
                return max(1, int((block.until - now) * 1000))
            del self._blocked[(user_id, key)]
        item = self.items.get(key, self.default_item)
        retry_ms = await self.limiter.hit(item, "event", str(user_id), key)
        if retry_ms is None:
            return None
        self._blocked[(user_id, key)] = _Block(until=now + retry_ms / 1000)
        metrics.RATE_LIMITED.labels(event=key).inc()
        if now >= self._quiet_until.get((user_id, key), 0.0):
            self._quiet_until[(user_id, key)] = now + item.get_expiry()
            log.warning(
                "rate limit exceeded",
                extra={"user_id": user_id, "event": key, "retry_after_ms": retry_ms},
            )
        return retry_ms

    def record_rejection(self, sid: str) -> bool:
        """Count a refused event of `sid`; True when the socket should be disconnected.

        True once, for the refusal that reaches `ABUSE_MAX_REJECTED` within the window: events
        of the same burst that are handled before the disconnect lands do not ask again."""
        now = time.monotonic()
        abuse = self._abuse.setdefault(sid, _Abuse(window_start=now))
        if now - abuse.window_start > ABUSE_WINDOW_SECONDS:
            abuse.window_start, abuse.rejected = now, 0
        abuse.rejected += 1
        return abuse.rejected == ABUSE_MAX_REJECTED

    def forget(self, sid: str) -> None:
        self._abuse.pop(sid, None)

    def prune(self) -> None:
        """Drop expired blocks and log silences (called periodically)."""
        now = time.monotonic()
        for key in [k for k, b in self._blocked.items() if b.until <= now]:
            del self._blocked[key]
        for key in [k for k, until in self._quiet_until.items() if until <= now]:
            del self._quiet_until[key]
