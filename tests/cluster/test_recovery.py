"""Connection-state recovery across instances (real processes): the stock socket.io-client
4.7.5, through nginx with the shipped configuration, drops its network on one instance while
5 orders fill, and comes back through nginx to another instance: `recovered` is true and it
gets exactly those 5 fills, in order, then live ones. The sessions and the user events' logs
live in Redis (realtime/recovery.py, `RedisRecoveryStore`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.cluster.conftest import Balancer, Cluster, balancer
from tests.cluster.test_cluster import order
from tests.harness.process import ServiceProcess
from tests.harness.waiting import wait_until
from tests.realtime.test_js_client import node  # noqa: F401 (the fixture)
from tests.realtime.test_recovery import RecoveringClient, run_recovering  # noqa: F401
from tests.test_cluster import upstream_of
from tradewire.realtime.recovery import DEFAULT_REDIS_PREFIX

USER_EVENTS = ("trade:executed", "trade:failed", "portfolio:update")


@pytest.fixture
async def front(cluster: Cluster, nginx: Path, tmp_path: Path) -> AsyncIterator[Balancer]:
    """nginx in front of the first two instances."""
    async with balancer(nginx, cluster.instances[:2], tmp_path) as front:
        yield front


async def saved_sessions(redis_url: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return len([k async for k in client.scan_iter(f"{DEFAULT_REDIS_PREFIX}:session:*")])
    finally:
        await client.aclose()


def user_events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ln for ln in lines if ln["type"] == "event" and ln["event"] in USER_EVENTS]


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_socket_dropped_on_one_instance_recovers_on_another_through_nginx(
    cluster: Cluster,
    front: Balancer,
    run_recovering: Any,  # noqa: F811
) -> None:
    a, b = cluster.instances[:2]
    keys = await front.key_for_each([a, b])
    far: ServiceProcess = cluster.instances[2]  # where the orders go: neither a nor b
    session_id = await cluster.login(a)
    client: RecoveringClient = await run_recovering(
        url=front.url,
        sessionId=session_id,
        watch=["AAPL"],
        cookie=f"tw_lb={keys[a.url]}",
    )
    first = await client.until("connect")
    assert first["recovered"] is False
    await client.until("ready")
    await client.until("event", event="quote:update")
    await order(far.url, session_id, symbol="AAPL", side="buy", quantity=1)
    seen = await client.until("event", event="portfolio:update")
    last_seq = int(seen["offset"])
    # a fill's events, from another instance through Redis, come in their order
    assert [int(e["offset"]) for e in user_events(client.lines)] == [1, 2]

    await client.send("drop")
    await client.until("disconnect")
    await wait_until(
        lambda: saved_sessions(cluster.redis.url),
        timeout=20,
        what="instance A to save the dropped socket's state in Redis",
    )
    missed = []
    for n in range(5):
        placed = (
            await order(far.url, session_id, symbol="AAPL", side="buy", quantity=n + 1)
        ).json()
        assert placed["status"] == "filled", placed
        missed.append(placed["orderId"])

    await client.send(f"cookie tw_lb={keys[b.url]}")  # another network: instance B
    await client.send("reconnect")
    back = await client.until("connect", count=2)
    assert back["recovered"] is True and back["id"] == first["id"]
    await client.until("ready", count=2)
    live = (await order(far.url, session_id, symbol="AAPL", side="buy", quantity=9)).json()
    await client.until("event", event="trade:executed", count=7)

    since = client.after(back)
    events = user_events(since)
    fills = [e["data"]["orderId"] for e in events if e["event"] == "trade:executed"]
    assert fills == [*missed, live["orderId"]]  # the 5 missed, in order, once each, then live
    offsets = [int(e["offset"]) for e in events]
    assert offsets == list(range(last_seq + 1, last_seq + 1 + len(offsets)))
    # no ack: the recovered socket did not subscribe again, its watchlist came back with it
    assert not [ln for ln in since if ln["type"] == "ack"]
    quotes = [i for i, ln in enumerate(since) if ln.get("event") == "quote:update"]
    assert quotes, "no quote after the recovery"
    # the first connection went through nginx to A, the reconnect to B (nginx logs a WebSocket
    # when it closes)
    await client.send("exit")
    await client.until("done")
    for instance in (a, b):
        await wait_until(
            lambda i=instance: (
                upstream_of(front.log, keys[i.url], "/socket.io/")
                == {i.url.removeprefix("http://")}
            ),
            timeout=10,
            what=f"nginx's log of the socket through {instance.url}",
        )
