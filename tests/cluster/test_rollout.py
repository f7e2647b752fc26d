"""The real-time rollout in a cluster: a change made on one instance is applied by every
instance, and a restarted instance reads it back (real processes, Redis and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.cluster.conftest import Cluster, connect
from tests.harness.waiting import wait_until
from tests.realtime.clients import Client
from tests.support import SocketClient

REFUSED = {"message": "realtime_disabled", "data": {"code": "REALTIME_DISABLED"}}


async def put_rollout(url: str, session_id: str, **body: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.put(
            f"{url}/api/admin/realtime",
            json=body,
            headers={"Authorization": f"Bearer {session_id}"},
        )
        assert r.status_code == 200, r.text


async def rollout_of(url: str, session_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            f"{url}/api/admin/realtime", headers={"Authorization": f"Bearer {session_id}"}
        )
        answer: dict[str, Any] = r.json()
        return answer


async def test_a_rollout_change_on_one_instance_is_applied_by_every_instance(
    cluster: Cluster, clients: list[SocketClient]
) -> None:
    a, b, c = cluster.instances
    admin = await cluster.login(a)
    user = await cluster.register("carla")
    on_b = await connect(clients, b.url, user)

    await put_rollout(a.url, admin, enabled=False, percent=100)
    await on_b.wait_for("realtime:disabled")
    assert on_b.of("realtime:disabled") == [{"reason": "disabled"}]
    await wait_until(
        lambda: not on_b.sio.connected, timeout=10, what="the socket on B to be disconnected"
    )
    for instance in (b, c):
        assert await rollout_of(instance.url, admin) == {"enabled": False, "percent": 100}
    async with Client() as refused:
        assert await refused.refused(c.url, user) == REFUSED

    # a restarted instance reads the stored state, not its settings' default (on)
    await asyncio.to_thread(c.restart)
    await cluster.wait_ready()
    assert await rollout_of(c.url, admin) == {"enabled": False, "percent": 100}

    await put_rollout(c.url, admin, enabled=True, percent=100)
    await wait_until(
        lambda: _enabled_on(b.url, admin), timeout=10, what="instance B to see real time on"
    )
    again = await connect(clients, b.url, user)
    assert (await again.sio.call("subscribe:portfolio"))["ok"] is True


async def _enabled_on(url: str, session_id: str) -> bool:
    return (await rollout_of(url, session_id))["enabled"] is True
