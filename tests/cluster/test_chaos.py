"""Chaos under load (real processes): traders place orders through three instances while one
instance is SIGKILLed, redis-server is restarted and PostgreSQL is restarted (an immediate
shutdown, as a crash). Afterwards nothing accepted is lost or executed twice, every portfolio
is the sum of its trades, and every user's event history has each fill exactly once.

Each trader also watches live, as a bot does: a `tradewire.client` socket through nginx (the
shipped configuration) on the instance that is killed. It is never restarted by the test: it
reconnects by itself through nginx to another instance, and over the socket (live pushes,
pushes filled from the outbox after the Redis restart) and its reconnect's `missed` it gets
every fill of its trader exactly once.

Each trader acts as a careful client does: an order goes out with an Idempotency-Key and, when
the answer does not come (a dead instance, a 503 while a dependency restarts), the same order
is sent again with the same key to the next instance until one answers 201.

The database keeps PostgreSQL's default durability, `synchronous_commit = on`: the shared test
server runs with it off for speed, and with it off a crash loses commits that were already
acknowledged (as PostgreSQL documents), which is not what a deployment runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Balancer, Cluster, balancer
from tests.harness.postgres import PostgresServer
from tests.harness.waiting import wait_until
from tradewire.client import TRADE_EXECUTED, Snapshots, TradewireClient

START_CASH = Decimal("100000.00")


@pytest.fixture
def cluster_env(postgres_server: PostgresServer) -> Iterator[dict[str, str]]:
    """The cluster's database, durable as in a deployment (the `cluster` fixture uses it)."""
    name = "chaos_test"
    url = postgres_server.create_database(name)
    postgres_server.sql(f"ALTER DATABASE {name} SET synchronous_commit = on")
    try:
        yield {
            "DATABASE_URL": url,
            "MARKET_TICK_RATE": "2",
            "MARKET_SEED": "11",
            "AUTH_RATE_LIMIT": "10000/minute",
        }
    finally:
        postgres_server.drop_database(name)


ATTEMPTS = 200  # per order, 0.1 s apart: long enough to outlast each restart


@dataclass
class Trader:
    session_id: str
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Idempotency-Key -> the 201 answer."""
    retried: int = 0
    """Sends that got no 201 and were sent again."""
    pushed: list[int] = field(default_factory=list)
    """The trade ids of the `trade:executed` its live client handed on."""
    missed: list[int] = field(default_factory=list)
    """The trade ids of the fills in its client's reconnects' `missed`."""
    reconnects: list[bool] = field(default_factory=list)
    """Each reconnect of its client: recovered or not."""

    async def watch(self, url: str) -> TradewireClient:
        """A live client, as a bot runs it: it reconnects by itself."""
        client = TradewireClient(url, reconnect_delay=0.2, reconnect_delay_max=2.0)
        client.on(TRADE_EXECUTED, lambda trade: self.pushed.append(trade.trade_id))
        client.on_connect(self._connected)
        await client.connect(self.session_id)
        await client.subscribe_portfolio()
        await client.subscribe_trades()
        return client

    def _connected(self, snapshots: Snapshots) -> None:
        if snapshots.reconnect:
            self.reconnects.append(snapshots.recovered)
        for event in snapshots.missed:
            if event.event == "trade:executed":
                self.missed.append(event.data.trade_id)  # type: ignore[union-attr]


async def trade_until(cluster: Cluster, trader: Trader, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {trader.session_id}"}
    async with httpx.AsyncClient(timeout=5) as http:
        n = 0
        while not stop.is_set():
            key = f"chaos-{uuid.uuid4()}"
            for attempt in range(ATTEMPTS):
                target = cluster.instances[(n + attempt) % len(cluster.instances)]
                try:
                    r = await http.post(
                        f"{target.url}/api/orders",
                        json={"symbol": "AAPL", "side": "buy", "quantity": 1},
                        headers={**headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    r = None
                if r is not None and r.status_code == 201:
                    trader.accepted[key] = r.json()
                    break
                assert r is None or r.status_code in (500, 502, 503), r.text
                trader.retried += 1
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"an order was never accepted in {ATTEMPTS} attempts")
            n += 1
            await asyncio.sleep(0.1)


async def get(url: str, session_id: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            f"{url}{path}", params=params, headers={"Authorization": f"Bearer {session_id}"}
        )
        r.raise_for_status()
        return r.json()


async def test_no_accepted_order_is_lost_or_doubled_through_a_kill_and_two_restarts(
    cluster: Cluster, postgres_server: PostgresServer, nginx: Path, tmp_path: Path
) -> None:
    async with balancer(nginx, cluster.instances, tmp_path) as front:
        await chaos(cluster, postgres_server, front)


async def chaos(cluster: Cluster, postgres_server: PostgresServer, front: Balancer) -> None:
    traders = [Trader(await cluster.register(f"chaos{uuid.uuid4().hex[:8]}")) for _ in range(4)]
    watching = [await t.watch(front.url) for t in traders]
    try:
        await trade_through_faults(cluster, postgres_server, front, traders, watching)
    finally:
        for client in watching:
            await client.close()


async def trade_through_faults(
    cluster: Cluster,
    postgres_server: PostgresServer,
    front: Balancer,
    traders: list[Trader],
    watching: list[TradewireClient],
) -> None:
    # nginx sends a WebSocket by the client's address: every watcher is on this instance
    a = await front.instance_of("127.0.0.1", cluster.instances)
    b = next(i for i in cluster.instances if i is not a)
    stop = asyncio.Event()
    running = [asyncio.create_task(trade_until(cluster, t, stop)) for t in traders]

    await asyncio.sleep(2)
    a.kill()  # SIGKILL under load, with the watchers' sockets on it
    await asyncio.sleep(2)
    cluster.redis.stop()
    await asyncio.sleep(1)
    cluster.redis.start()
    await asyncio.sleep(2)
    await asyncio.to_thread(postgres_server.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(postgres_server.start)
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*running)

    survivors = [i for i in cluster.instances if i is not a]
    for instance in survivors:
        await wait_until(
            lambda i=instance: cluster.ready(i), timeout=30, what=f"{instance.url} ready again"
        )
    accepted = sum(len(t.accepted) for t in traders)
    retried = sum(t.retried for t in traders)
    print(f"chaos: {accepted} orders accepted, {retried} sends retried")
    assert accepted >= 20 and retried > 0  # there was load, and the faults were felt

    rejected: list[str] = []
    for trader in traders:
        sid = trader.session_id
        orders = await get(b.url, sid, "/api/orders", limit=500)
        trades = await get(b.url, sid, "/api/trades", limit=500)
        portfolio = await get(b.url, sid, "/api/portfolio")
        # every accepted order exists once, as it was answered; nothing else was recorded
        answered = {o["orderId"]: o["status"] for o in trader.accepted.values()}
        assert {o["orderId"]: o["status"] for o in orders} == answered
        assert len(orders) == len(answered)
        # each filled order has exactly one trade; a rejected one (no quote while the cache's
        # Redis restarted) none
        rejected.extend(o["rejectReason"] for o in orders if o["status"] == "rejected")
        filled = sorted(i for i, status in answered.items() if status == "filled")
        assert set(answered.values()) <= {"filled", "rejected"}
        assert sorted(t["orderId"] for t in trades) == filled
        # the portfolio is the sum of its trades
        spent = sum(Decimal(t["total"]) for t in trades)
        assert Decimal(portfolio["cash"]) == START_CASH - spent
        held = {p["symbol"]: p["quantity"] for p in portfolio["positions"]}
        assert held == ({"AAPL": len(trades)} if trades else {})
        # the user's history: seq 1..n without a gap, each fill once
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await get(b.url, sid, "/api/events", after=after, limit=200)
            events += page["events"]
            if not page["hasMore"]:
                break
            after = page["events"][-1]["seq"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        fills = [e["data"]["tradeId"] for e in events if e["event"] == "trade:executed"]
        assert sorted(fills) == sorted(t["tradeId"] for t in trades)
    print(f"chaos: rejected meanwhile: {sorted(set(rejected))} x {len(rejected)}")

    # the live clients came back by themselves and saw every fill exactly once
    for trader, client in zip(traders, watching, strict=True):
        trade_ids = sorted(
            t["tradeId"] for t in await get(b.url, trader.session_id, "/api/trades", limit=500)
        )
        await wait_until(
            lambda t=trader, c=client, ids=trade_ids: (
                c.connected and sorted({*t.pushed, *t.missed}) == ids
            ),
            timeout=30,
            what=f"the live client to hold its {len(trade_ids)} fills",
        )
        assert sorted(trader.pushed + trader.missed) == trade_ids  # none twice
        assert trader.reconnects, "the client's instance was killed: it must have reconnected"
    print(
        "chaos: live clients: "
        + "; ".join(
            f"{len(t.pushed)} pushed + {len(t.missed)} missed, reconnects {t.reconnects}"
            for t in traders
        )
    )
