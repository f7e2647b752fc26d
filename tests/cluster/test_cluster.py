"""Several instances on one Redis act as one (real processes, real Redis, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.cluster.conftest import Cluster, connect
from tests.harness.waiting import wait_until
from tests.support import SocketClient


async def order(url: str, session_id: str, key: str | None = None, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {session_id}"}
    if key:
        headers["Idempotency-Key"] = key
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}/api/orders", json=body, headers=headers)


async def test_a_users_sockets_on_every_instance_get_their_events(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, c = cluster.instances
    demo = await cluster.login(a)
    other = await cluster.register("olivia")
    on_a = await connect(clients, a.url, demo)
    on_b = await connect(clients, b.url, demo)
    bystander = await connect(clients, c.url, other)
    await bystander.sio.call("subscribe:watchlist", {"symbols": ["AAPL"]})

    placed = (await order(c.url, demo, symbol="AAPL", side="buy", quantity=3)).json()
    assert placed["status"] == "filled"
    for socket in (on_a, on_b):
        [trade] = await socket.wait_for("trade:executed")
        assert trade["orderId"] == placed["orderId"] and trade["quantity"] == 3
        [portfolio] = await socket.wait_for("portfolio:update")
        assert portfolio["positions"][0]["quantity"] == 3

    # the bystander is live (quotes keep arriving after the order) and got nothing of demo's
    seen = len(bystander.of("quote:update"))
    await bystander.wait_for("quote:update", count=seen + 2)
    assert bystander.of("trade:executed") == [] and bystander.of("portfolio:update") == []


async def test_every_instance_serves_the_same_quote_at_the_same_seq(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    demo = await cluster.login()
    by_seq: dict[int, list[dict[str, Any]]] = {}

    async def read_all_instances() -> bool:
        async with httpx.AsyncClient(timeout=10) as http:
            answers = await asyncio.gather(
                *[
                    http.get(f"{i.url}/api/quotes", params={"symbols": "MSFT"})
                    for i in cluster.instances
                ]
            )
        for r in answers:
            q = r.json()[0]
            by_seq.setdefault(q["seq"], []).append(q)
        return any(len(q) >= 3 for q in by_seq.values())

    await wait_until(
        read_all_instances,
        timeout=30,
        interval=0.05,
        what="a MSFT quote read from all three instances at one seq",
    )
    for seq, quotes in by_seq.items():
        assert all(q == quotes[0] for q in quotes), f"instances disagree at seq {seq}"

    # sockets on two instances see the same quote for each seq, and each seq once
    sockets = [await connect(clients, i.url, demo) for i in cluster.instances[:2]]
    for s in sockets:
        await s.sio.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    for s in sockets:
        await s.wait_for("quote:update", count=4)
    seen = [{q["seq"]: q for q in s.of("quote:update")} for s in sockets]
    for s in sockets:
        seqs = [q["seq"] for q in s.of("quote:update")]
        assert seqs == sorted(set(seqs)), "a quote arrived twice or out of order"
    common = seen[0].keys() & seen[1].keys()
    assert common and all(seen[0][k] == seen[1][k] for k in common)


async def test_a_rate_limit_is_one_limit_across_instances(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, _ = cluster.instances
    demo = await cluster.login()
    on_a = await connect(clients, a.url, demo)
    on_b = await connect(clients, b.url, demo)
    answers = [await on_a.sio.call("subscribe:trades") for _ in range(31)]
    assert [x["ok"] for x in answers].count(True) == 30  # SUBSCRIBE_TRADES_LIMIT = 30/minute
    refused = await on_b.sio.call("subscribe:trades")
    assert refused["ok"] is False and refused["error"]["code"] == "RATE_LIMITED"
    [notice] = await on_b.wait_for("rate_limited")
    assert notice["event"] == "subscribe:trades" and notice["retryAfterMs"] > 0


async def test_logout_disconnects_the_sessions_sockets_on_every_instance(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, c = cluster.instances
    demo = await cluster.login()
    sockets = [await connect(clients, i.url, demo) for i in (a, b)]
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{c.url}/api/auth/logout", headers={"Authorization": f"Bearer {demo}"})
        assert r.status_code == 204
    await wait_until(
        lambda: not any(s.sio.connected for s in sockets),
        timeout=10,
        what="both sockets of the revoked session to be disconnected",
    )


async def test_orders_accepted_before_an_instance_dies_execute_exactly_once(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, _ = cluster.instances
    demo = await cluster.login(b)
    watcher = await connect(clients, b.url, demo)
    keys = [f"order-{uuid.uuid4()}" for _ in range(10)]
    sent = [
        asyncio.create_task(order(a.url, demo, key, symbol="NVDA", side="buy", quantity=1))
        for key in keys
    ]
    await asyncio.sleep(0)  # the requests are on their way
    await asyncio.wait(sent, timeout=0.3)
    a.kill()
    # the client did not see every answer: it retries every order, with its key, elsewhere
    for key in keys:
        r = await order(b.url, demo, key, symbol="NVDA", side="buy", quantity=1)
        assert r.status_code == 201 and r.json()["status"] == "filled"
    async with httpx.AsyncClient(timeout=10) as http:
        orders = (
            await http.get(f"{b.url}/api/orders", headers={"Authorization": f"Bearer {demo}"})
        ).json()
        trades = (
            await http.get(f"{b.url}/api/trades", headers={"Authorization": f"Bearer {demo}"})
        ).json()
    assert len(orders) == 10 and len(trades) == 10
    assert sorted(t["orderId"] for t in trades) == sorted(o["orderId"] for o in orders)
    await watcher.wait_for("trade:executed", count=1)


async def test_the_feed_moves_to_another_instance_when_its_leader_dies(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    leader = await cluster.leader()
    assert leader is not None
    survivor = next(i for i in cluster.instances if i is not leader)
    demo = await cluster.login(survivor)
    socket = await connect(clients, survivor.url, demo)
    await socket.sio.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT", "NVDA"]})
    await socket.wait_for("quote:update", count=3)
    last_seq = {q["symbol"]: q["seq"] for q in socket.of("quote:update")}

    leader.kill()
    killed_at = time.monotonic()
    before = len(socket.of("quote:update"))
    await wait_until(cluster.leader, timeout=15, what="another instance to take the feed")
    await socket.wait_for("quote:update", count=before + 3, timeout=15)
    took_over = time.monotonic() - killed_at
    print(f"feed take-over: quotes flowing again {took_over:.2f} s after SIGKILL")
    after = socket.of("quote:update")[before:]
    for q in after:
        assert q["seq"] > last_seq.get(q["symbol"], 0), "a seq went back after the take-over"
        last_seq[q["symbol"]] = q["seq"]


async def bars_of(url: str, symbol: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(f"{url}/api/quotes/{symbol}/bars", params={"limit": 480})
        r.raise_for_status()
        bars: list[dict[str, Any]] = r.json()["bars"]
        return bars


async def test_bars_carry_on_when_the_feed_moves_to_another_instance(cluster: Cluster) -> None:
    """The bars are in Redis, not in the feed's process: the new feed instance goes on with the
    same bars (the current minute's included), and every instance answers the same."""
    leader = await cluster.leader()
    assert leader is not None
    a, b = (i for i in cluster.instances if i is not leader)
    before = await wait_until(
        lambda: bars_of(a.url, "MSFT"), timeout=15, what="MSFT bars on a non-leader instance"
    )
    leader.kill()
    await wait_until(cluster.leader, timeout=15, what="another instance to take the feed")
    volume_before = sum(bar["volume"] for bar in before)

    async def grown() -> list[dict[str, Any]] | None:
        on_a, on_b = await bars_of(a.url, "MSFT"), await bars_of(b.url, "MSFT")
        if on_a != on_b or sum(bar["volume"] for bar in on_a) < volume_before + 3:
            return None
        return on_a

    after = await wait_until(grown, timeout=20, what="both instances to serve more MSFT bars")
    by_time = {bar["time"]: bar for bar in after}
    for finished in before[:-1]:
        assert by_time.get(finished["time"]) == finished, "a finished bar changed or went"
    current = by_time.get(before[-1]["time"])
    if current is not None:  # the minute of the failover: merged into, not started over
        assert current["volume"] >= before[-1]["volume"]
        assert current["open"] == before[-1]["open"]


async def test_instances_recover_from_a_redis_restart_by_themselves(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, _ = cluster.instances
    demo = await cluster.login(a)
    on_b = await connect(clients, b.url, demo)
    await on_b.sio.call("subscribe:watchlist", {"symbols": ["AAPL"]})

    cluster.redis.stop()
    stopped_at = time.monotonic()
    await wait_until(lambda: _not_ready(cluster, a), timeout=15, what="/readyz to turn 503")
    cluster.redis.start()
    await cluster.wait_ready(timeout=30)
    recovered = time.monotonic() - stopped_at
    print(f"redis restart: every instance ready again {recovered:.2f} s after Redis stopped")

    quotes = len(on_b.of("quote:update"))
    await on_b.wait_for("quote:update", count=quotes + 2, timeout=15)
    response = await order(a.url, demo, symbol="AAPL", side="buy", quantity=1)
    assert response.status_code == 201, response.text
    placed = response.json()
    assert placed["status"] == "filled", placed
    try:
        [trade] = await on_b.wait_for("trade:executed", timeout=15)
    except TimeoutError:
        logs = "\n".join(f"--- {i.url}\n{i.log_tail()}" for i in cluster.instances)
        raise AssertionError(f"no trade:executed on b; the instances' logs:\n{logs}") from None
    assert trade["orderId"] == placed["orderId"]


async def _not_ready(cluster: Cluster, instance: Any) -> bool:
    return not await cluster.ready(instance)
