"""Live operating figures of this instance, for the dashboard's ops page.

Connection count, messages emitted per second and latency percentiles over a short rolling
window, computed in-process (Prometheus has the long-term series; this is what an operator
watches live). Figures are this instance's only: in a cluster each instance reports itself.

Client round trips come from latency probes: every `PROBE_INTERVAL` seconds a sample of up to
`PROBE_SAMPLE` sockets gets a `latency:ping` event with an ack; the time until the ack arrives
is what a user's own socket sees, network and client included.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0
MAX_SAMPLES = 5000
PROBE_INTERVAL = 5.0
PROBE_SAMPLE = 20
PROBE_TIMEOUT = 5.0
STATS_INTERVAL = 1.0
"""How often `ops:stats` is pushed to subscribed admins."""


@dataclass
class RollingLatency:
    """Latency samples (seconds) of the last `WINDOW_SECONDS`, at most `MAX_SAMPLES`."""

    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def add(self, seconds: float, now: float | None = None) -> None:
        self.samples.append((time.monotonic() if now is None else now, max(0.0, seconds)))

    def percentiles_ms(self, now: float | None = None) -> dict[str, float | int | None]:
        now = time.monotonic() if now is None else now
        while self.samples and now - self.samples[0][0] > WINDOW_SECONDS:
            self.samples.popleft()
        values = sorted(v for _, v in self.samples)
        if not values:
            return {"p50": None, "p95": None, "p99": None, "count": 0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

        return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "count": len(values)}


@dataclass
class MessageRate:
    """Messages emitted per second, from a running total sampled at each `rate()` call."""

    total: int = 0
    _last_total: int = 0
    _last_at: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        now = time.monotonic()
        elapsed = now - self._last_at
        if elapsed <= 0:
            return 0.0
        value = (self.total - self._last_total) / elapsed
        self._last_total, self._last_at = self.total, now
        return round(value, 1)


@dataclass
class OpsMonitor:
    quote_latency: RollingLatency = field(default_factory=RollingLatency)
    trade_latency: RollingLatency = field(default_factory=RollingLatency)
    client_rtt: RollingLatency = field(default_factory=RollingLatency)
    messages: MessageRate = field(default_factory=MessageRate)

    def snapshot(self, connections: int, instance: str) -> dict[str, object]:
        """The `ops:stats` payload."""
        return {
            "instance": instance,
            "connections": connections,
            "messagesPerSecond": self.messages.rate(),
            "quoteLatencyMs": self.quote_latency.percentiles_ms(),
            "tradeLatencyMs": self.trade_latency.percentiles_ms(),
            "clientRttMs": self.client_rtt.percentiles_ms(),
            "ts": int(time.time() * 1000),
        }
