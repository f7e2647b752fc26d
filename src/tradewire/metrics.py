"""Prometheus metrics of this instance (each instance is scraped on its own).

Labels are bounded: event names are the known set (unknown events count as "*"), never user
ids or symbols.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("tradewire_socket_connections", "Connected Socket.IO clients", ["transport"])
CONNECTS = Counter("tradewire_socket_connects_total", "Accepted Socket.IO connections")
DISCONNECTS = Counter("tradewire_socket_disconnects_total", "Socket.IO disconnections", ["reason"])
AUTH_FAILURES = Counter(
    "tradewire_socket_auth_failures_total",
    "Socket.IO handshakes refused for a missing or invalid session",
)
EVENTS_RECEIVED = Counter(
    "tradewire_socket_events_received_total", "Client events received", ["event"]
)
MESSAGES_EMITTED = Counter(
    "tradewire_socket_messages_emitted_total",
    "Server emits (one per emit call, not per recipient)",
    ["event"],
)
EMIT_FAILURES = Counter("tradewire_socket_emit_failures_total", "Emits that raised", ["event"])
RATE_LIMITED = Counter(
    "tradewire_socket_rate_limited_total", "Client events refused by the rate limiter", ["event"]
)
FLOOD_DISCONNECTS = Counter(
    "tradewire_socket_flood_disconnects_total",
    "Sockets disconnected for sustained rate-limit abuse",
)
ORDERS = Counter("tradewire_orders_total", "Orders by outcome", ["status"])
HANDSHAKE_SECONDS = Histogram(
    "tradewire_socket_handshake_seconds",
    "Socket.IO connect handler duration (session check)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
