"""Prometheus metrics of this instance, served at `GET /metrics` (`tradewire.api.metrics`).

Each instance counts only what it does itself and is scraped on its own; Prometheus adds the
`instance` label, and fleet-wide figures are `sum()` in PromQL. Every metric, every alert on it
and what to do when one fires is in docs/MONITORING.md; deploy/prometheus/alerts.yml and
deploy/grafana/tradewire.json use these exact names (tests/test_observability.py checks that).

Labels are bounded: event names are the known set (unknown events count as "*"), disconnect
reasons the transport's few (`realtime.sockets.DISCONNECT_REASONS`), order outcomes the order
statuses. Never user ids, sids or symbols.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, Info

if TYPE_CHECKING:
    from tradewire.settings import Settings

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ connections

CONNECTIONS = Gauge("tradewire_socket_connections", "Connected Socket.IO clients", ["transport"])
CONNECTS = Counter("tradewire_socket_connects_total", "Accepted Socket.IO connections")
DISCONNECTS = Counter("tradewire_socket_disconnects_total", "Socket.IO disconnections", ["reason"])
USER_EVENTS_FILLED = Counter(
    "tradewire_user_events_filled_total",
    "User events sent to a socket from the outbox because its push did not reach it (a gap "
    "in seq, or a bus outage)",
)
SOCKETS_RECOVERED = Counter(
    "tradewire_socket_recoveries_total",
    "Reconnecting sockets that asked for connection-state recovery, by outcome "
    "(recovered, session_gone: unknown or past the window, events_gone: missed events no "
    "longer kept, store_unavailable: the recovery store did not answer)",
    ["outcome"],
)
AUTH_FAILURES = Counter(
    "tradewire_socket_auth_failures_total",
    "Socket.IO handshakes refused for a missing or invalid session",
)
FLOOD_DISCONNECTS = Counter(
    "tradewire_socket_flood_disconnects_total",
    "Sockets disconnected for sustained rate-limit abuse",
)
HANDSHAKE_SECONDS = Histogram(
    "tradewire_socket_handshake_seconds",
    "Socket.IO connect handler duration (session check)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

# ------------------------------------------------------------------ messages

EVENTS_RECEIVED = Counter(
    "tradewire_socket_events_received_total", "Client events received", ["event"]
)
MESSAGES_EMITTED = Counter(
    "tradewire_socket_messages_emitted_total",
    "Server emits (one per emit call, not per recipient)",
    ["event"],
)
HANDSHAKES_REFUSED = Counter(
    "tradewire_socket_handshakes_refused_total",
    "New Socket.IO connections refused over the admission rate (SOCKET_HANDSHAKE_RATE)",
)
QUOTE_RESYNCS = Counter(
    "tradewire_socket_quote_resyncs_total",
    "Sockets sent their symbols' latest quotes after quotes were dropped while they did not read",
)
EMIT_FAILURES = Counter("tradewire_socket_emit_failures_total", "Emits that raised", ["event"])
RATE_LIMITED = Counter(
    "tradewire_socket_rate_limited_total",
    "Client events refused by the rate limiter",
    ["event"],
)

# ------------------------------------------------------------------ trading

ORDERS = Counter(
    "tradewire_orders_total",
    "New orders by their outcome when placed: filled, open (a resting limit order) or rejected",
    ["status"],
)

# ------------------------------------------------------------------ delivery latency

# 0.5 s is a bucket boundary on purpose: the p95 alert compares against it, and
# histogram_quantile is exact only at boundaries.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

QUOTE_DELIVERY_SECONDS = Histogram(
    "tradewire_quote_delivery_seconds",
    "From a quote's ts (made by the market feed) to its quote:update emit completing",
    buckets=DELIVERY_BUCKETS,
)
ORDER_TO_TRADE_SECONDS = Histogram(
    "tradewire_order_to_trade_seconds",
    "From an order reaching the executor to its trade:executed emit completing "
    "(orders that fill at once; resting limit orders are not counted)",
    buckets=DELIVERY_BUCKETS,
)

CLIENT_RTT_SECONDS = Histogram(
    "tradewire_client_rtt_seconds",
    "Round trip of a latency probe (server event -> client ack) to a sample of sockets: what "
    "users' sockets see, network and client included",
    buckets=DELIVERY_BUCKETS,
)
CLIENT_PROBE_TIMEOUTS = Counter(
    "tradewire_client_probe_timeouts_total",
    "Latency probes a client did not answer in time",
)

# ------------------------------------------------------------------ instance

REDIS_PUBSUB_UP = Gauge(
    "tradewire_redis_pubsub_up",
    "1 while this instance's Redis pub/sub delivers (its own heartbeat comes back), else 0; "
    'meaningful only in cluster mode (tradewire_instance_info{cluster="redis"})',
)
INSTANCE = Info("tradewire_instance", "What this instance runs: version and configuration")
GC_PAUSE_SECONDS = Histogram(
    "tradewire_gc_pause_seconds",
    "Garbage-collector passes of this process, by generation (0 and 1 young, 2 full): "
    "nothing else runs meanwhile, the event loop included",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
GC_PAUSE_LOGGED = 0.25
"""Seconds: a garbage-collector pass at least this long is also logged (a warning)."""

_ORDER_RECEIVED_AT: ContextVar[float | None] = ContextVar("order_received_at", default=None)


def observe_quote_delivery(quote_ts_ms: int) -> float:
    """Record one quote emitted now; `quote_ts_ms` is `Quote.ts` (epoch milliseconds).

    Wall clock on both ends: a quote made on another instance carries that instance's clock, so
    skew shows up here (negative values are clamped to 0)."""
    seconds = max(0.0, time.time() - quote_ts_ms / 1000)
    QUOTE_DELIVERY_SECONDS.observe(seconds)
    return seconds


def mark_order_received() -> None:
    """Note that an order arrived, for `observe_order_to_trade` (called by the executor).

    The mark lives in a context variable, so it follows the order into the tasks its events
    start (pyee runs each listener in a task that copies the context) and no further: a resting
    limit order filled later from a quote task carries no mark and is not timed."""
    _ORDER_RECEIVED_AT.set(time.perf_counter())


def observe_order_to_trade() -> float | None:
    """Record a trade:executed emit completing now, if its order was marked in this context;
    returns the seconds recorded (None when there was no mark)."""
    received = _ORDER_RECEIVED_AT.get()
    if received is None:
        return None
    seconds = time.perf_counter() - received
    ORDER_TO_TRADE_SECONDS.observe(seconds)
    return seconds


def track_pubsub(flowing: Callable[[], bool]) -> None:
    """Make `tradewire_redis_pubsub_up` read `flowing()` at every scrape (the cluster bus)."""
    REDIS_PUBSUB_UP.set_function(lambda: 1.0 if flowing() else 0.0)


def describe_instance(settings: Settings) -> None:
    """Set `tradewire_instance_info` from the settings (a handful of fixed values)."""
    INSTANCE.info(
        {
            "version": _version(),
            "cluster": "redis" if settings.redis_url else "single",
            "database": "sqlite" if settings.is_sqlite else "postgresql",
            "realtime": "true" if settings.realtime_enabled else "false",
        }
    )


def watch_garbage_collector() -> Callable[[str, dict[str, int]], None]:
    """Time every garbage-collector pass into `tradewire_gc_pause_seconds` and log the long
    ones (at least GC_PAUSE_LOGGED). Once per process (`tradewire serve`); returns the callback
    it added to `gc.callbacks`."""
    started = [0.0]
    children = {g: GC_PAUSE_SECONDS.labels(generation=str(g)) for g in range(3)}

    def on_pass(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        generation = info["generation"]
        children[generation].observe(seconds)
        if seconds >= GC_PAUSE_LOGGED:
            log.warning(
                "garbage collection paused the process",
                extra={
                    "generation": generation,
                    "ms": round(seconds * 1000, 1),
                    "collected": info["collected"],
                },
            )

    gc.callbacks.append(on_pass)
    return on_pass


def _version() -> str:
    try:
        return version("tradewire")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"
