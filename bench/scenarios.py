"""The benchmark scenarios, their targets, and the quick, smoke and soak variants.

A scenario is one run of the load generator against one server. S3 and S4 are not separate
runs: S3 is a figure of the S1 runs (server CPU-seconds per million quote updates delivered,
tradewire against the Node comparison server), S4 is the order latency measured in the S2 run,
which places 50 orders/s throughout (one 10,000-client run instead of two).

Users and sockets: tradewire allows each *user* 60 `subscribe:watchlist` per minute, and a
login costs an argon2 verify (~50 ms of server CPU). So the harness creates few users, logs each
in once, and opens several sockets on that one session (10 per user in S1, 50 in S2). Every
socket of a user receives the user's `trade:executed` and `portfolio:update`, so one order
fans out to those sockets: more than a one-tab user would cause, which we accept and state.
"""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    clients: int
    users: int
    symbols: int
    tick_rate: float
    symbols_per_client: int
    orders_per_s: float
    steady_s: float
    warmup_s: float = 5.0
    drain_s: float = 10.0
    workers: int = 2
    batch: bool = False
    client: str = "socket.io-client"
    """The generator's Socket.IO client: stock socket.io-client, or "lean" (bench/harness/lean.js,
    the same protocol at a fraction of the CPU per message, for loads where the stock client
    would saturate the generator's core)."""
    connect_concurrency: int = 64
    idle: bool = False
    """No quote window and no orders: the steady state measures an idle server (S5)."""
    phase_deadline_s: float = 300.0
    sample_every_s: float = 0.0
    targets: dict[str, float] = field(default_factory=dict)
    """Target name -> bound, checked by `report.check_targets`."""

    def generator_config(self, url: str) -> dict[str, Any]:
        return {
            "url": url,
            "clients": self.clients,
            "users": self.users,
            "symbolsPerClient": self.symbols_per_client,
            "batch": self.batch,
            "client": self.client,
            "ordersPerSecond": self.orders_per_s,
            "workers": self.workers,
            "connectConcurrency": self.connect_concurrency,
            "phaseDeadlineS": self.phase_deadline_s,
            "warmupS": self.warmup_s,
            "steadyS": self.steady_s,
            "drainS": self.drain_s,
            "sampleEveryS": self.sample_every_s,
            "tickRate": self.tick_rate,
            "idle": self.idle,
        }

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "targets"}

    @property
    def timeout_s(self) -> float:
        """Upper bound on one run, after which the orchestrator stops it."""
        return 180 + 2 * self.phase_deadline_s + self.warmup_s + self.steady_s + 3 * self.drain_s


S1 = Scenario(
    name="S1",
    title="1,000 clients, 50 symbols at 4 ticks/s, 10 symbols each, 20 orders/s",
    clients=1000,
    users=100,
    symbols=50,
    tick_rate=4.0,
    symbols_per_client=10,
    orders_per_s=20,
    steady_s=60,
    workers=2,
    targets={"order_p99_ms": 50, "server_cpu_pct": 50},
)

S2 = Scenario(
    name="S2",
    title="10,000 clients, 50 symbols at 1 tick/s, 10 symbols each, 50 orders/s (S4)",
    clients=10_000,
    users=200,
    symbols=50,
    tick_rate=1.0,
    symbols_per_client=10,
    orders_per_s=50,
    steady_s=60,
    warmup_s=10,
    workers=4,
    client="lean",  # socket.io-client saturated the generator's core at S2's ~100,000 frames/s
    targets={
        "all_connected": 1,
        "delivered_ratio": 0.99,
        "quote_p99_ms": 250,
        "rss_per_conn_kb": 12,
        "order_p99_ms": 100,
    },
)

S1_BATCH = replace(
    S1,
    name="S1-batch",
    title="S1 with `quotes:update` batches (what the dashboard asks for)",
    batch=True,
)

S2_BATCH = replace(
    S2,
    name="S2-batch",
    title="S2 with `quotes:update` batches (what the dashboard asks for)",
    batch=True,
)

S5_WANTED = 50_000
"""S5's connections where the open-files limit allows them (see `s5_clients`)."""


def s5_clients(wanted: int = S5_WANTED, reserve: int = 500) -> int:
    """The connections S5 can hold here: one server process needs a descriptor per
    connection, and an unprivileged process cannot raise its hard RLIMIT_NOFILE."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(1000, min(wanted, (hard - reserve) // 1000 * 1000))


S5 = Scenario(
    name="S5",
    title="idle: up to 50,000 subscribed connections, no quotes to send, no orders",
    clients=s5_clients(),
    users=s5_clients() // 50,
    symbols=50,
    tick_rate=0.001,  # the feed must tick; at this rate a symbol ticks every ~17 minutes
    symbols_per_client=10,
    orders_per_s=0,
    steady_s=60,
    warmup_s=25,  # past one ping interval (20 s): every socket has had its first heartbeat
    drain_s=1,
    workers=4,
    client="lean",
    idle=True,
    connect_concurrency=256,
    phase_deadline_s=600,
    targets={"all_connected": 1, "rss_per_conn_kb": 12},
)
"""50,000 where the limit allows; RLIMIT_NOFILE caps a process at its hard limit (20,000 on
some hosted machines), and the scenario then holds as many as fit, and says so."""

CLUSTER = Scenario(
    name="cluster",
    title="2 instances on one Redis: 1,000 clients split across them, feed and orders on A",
    clients=1000,
    users=100,
    symbols=50,
    tick_rate=1.0,
    symbols_per_client=10,
    orders_per_s=20,
    steady_s=60,
    workers=2,
    targets={"far_quote_p99_ms": 20, "far_trade_push_p99_ms": 20, "far_delivered": 1},
)
"""bench/cluster_run.py: instance A holds the feed and takes the orders; B is the far instance.
The feed at S2's rate (50 ticks/s, 10,000 quote updates/s to deliver); `cluster-S1` at S1's."""

CLUSTER_S1 = replace(
    CLUSTER,
    name="cluster-S1",
    title="the cluster run with S1's feed (4 ticks/s: 40,000 quote updates/s)",
    tick_rate=4.0,
)

FULL = [S1, S1_BATCH, S2, S2_BATCH, S5, CLUSTER, CLUSTER_S1]

QUICK = [
    replace(S1, name="S1-quick", clients=200, users=20, steady_s=10, warmup_s=2, workers=1),
    replace(
        S2,
        name="S2-quick",
        clients=1000,
        users=20,
        orders_per_s=20,
        steady_s=10,
        warmup_s=2,
        workers=1,
    ),
]

CLUSTER_QUICK = replace(
    CLUSTER, name="cluster-quick", clients=200, users=20, steady_s=10, warmup_s=2, workers=1
)

QUICK.append(
    replace(S5, name="S5-quick", clients=2000, users=40, steady_s=10, warmup_s=2, workers=1)
)
QUICK.append(CLUSTER_QUICK)


def smoke_of(base: Scenario, name: str, title: str) -> Scenario:
    """20 clients for 5 s, no targets: a check that the harness itself works (the tests)."""
    return replace(
        base,
        name=name,
        title=title,
        clients=20,
        users=2,
        orders_per_s=2,
        steady_s=5,
        warmup_s=1,
        drain_s=5,
        workers=1,
        phase_deadline_s=60,
        targets={},
    )


SMOKE = [smoke_of(S1, "smoke", "20 clients, 50 symbols at 4 ticks/s, 2 orders/s")]
LEAN_SMOKE = smoke_of(
    S2_BATCH, "smoke-lean", "20 lean clients with `quotes:update` batches, 2 orders/s"
)
CLUSTER_SMOKE = smoke_of(CLUSTER, "cluster-smoke", "20 clients on two instances, 2 orders/s")
IDLE_SMOKE = replace(
    smoke_of(S5, "smoke-idle", "20 idle lean clients, subscribed, no quotes to send, no orders"),
    orders_per_s=0,
)


def soak(minutes: float) -> Scenario:
    """S1's load for `minutes` of steady state, RSS sampled every 30 s."""
    return replace(
        S1,
        name="soak",
        title=f"soak: S1's load for {minutes:g} minutes",
        steady_s=minutes * 60,
        sample_every_s=30,
    )


def by_name(names: list[str]) -> list[Scenario]:
    known = {s.name: s for s in [*FULL, *QUICK, *SMOKE, LEAN_SMOKE, CLUSTER_SMOKE, IDLE_SMOKE]}
    missing = [n for n in names if n not in known]
    if missing:
        raise SystemExit(f"unknown scenario(s) {missing}; known: {sorted(known)}")
    return [known[n] for n in names]
