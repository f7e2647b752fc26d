"""The rollout against a real server: the admin REST API, the per-user config, refused
handshakes, and live sockets told and disconnected when they fall outside."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realtime.clients import Client
from tests.realtime.conftest import Connect
from tests.support import LiveServer
from tradewire.rollout import bucket_of

REFUSED = {"message": "realtime_disabled", "data": {"code": "REALTIME_DISABLED"}}


async def put_rollout(server: LiveServer, session_id: str, **body: Any) -> dict[str, Any]:
    async with server.http(session_id) as http:
        r = await http.put("/api/admin/realtime", json=body)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


async def realtime_for(server: LiveServer, session_id: str | None) -> bool:
    async with server.http(session_id) as http:
        return bool((await http.get("/api/config")).json()["realtimeEnabled"])


async def user_id_of(server: LiveServer, session_id: str) -> int:
    async with server.http(session_id) as http:
        return int((await http.get("/api/me")).json()["userId"])


async def test_only_administrators_see_and_change_the_rollout(server: LiveServer) -> None:
    admin = await server.login()
    user = await server.register("ursula")
    async with server.http() as http:
        assert (await http.get("/api/admin/realtime")).status_code == 401
    async with server.http(user) as http:
        for r in (
            await http.get("/api/admin/realtime"),
            await http.put("/api/admin/realtime", json={"enabled": False, "percent": 0}),
        ):
            assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    async with server.http(admin) as http:
        assert (await http.get("/api/admin/realtime")).json() == {"enabled": True, "percent": 100}
    assert await realtime_for(server, user)  # the refused PUT changed nothing


@pytest.mark.parametrize(
    "body",
    [
        {"enabled": "true", "percent": 50},
        {"enabled": 1, "percent": 50},
        {"enabled": True, "percent": 50.0},
        {"enabled": True, "percent": "50"},
        {"enabled": True, "percent": 101},
        {"enabled": True, "percent": -1},
        {"enabled": True},
        {"enabled": True, "percent": 50, "extra": 1},
    ],
)
async def test_a_malformed_rollout_is_refused(server: LiveServer, body: dict[str, Any]) -> None:
    admin = await server.login()
    async with server.http(admin) as http:
        r = await http.put("/api/admin/realtime", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert (await http.get("/api/admin/realtime")).json() == {"enabled": True, "percent": 100}


async def test_switching_off_tells_and_drops_live_sockets_and_refuses_new_ones(
    server: LiveServer, connect: Connect
) -> None:
    admin = await server.login()
    user = await server.register("walter")
    live = await connect(server, user)
    polling = await connect(server, user, transports=["polling"])

    assert await put_rollout(server, admin, enabled=False, percent=100) == {
        "enabled": False,
        "percent": 100,
    }
    for client in (live, polling):
        assert await client.wait_for("realtime:disabled") == [{"reason": "disabled"}]
        await client.wait_disconnected()
    assert not await realtime_for(server, user)
    assert not await realtime_for(server, None)
    async with Client() as again:
        assert await again.refused(server.url, user) == REFUSED
    assert server.services.realtime.sockets == {}

    await put_rollout(server, admin, enabled=True, percent=100)
    assert await realtime_for(server, user)
    back = await connect(server, user)
    assert (await back.call("subscribe:portfolio"))["ok"] is True


async def test_a_percent_lets_in_exactly_the_users_whose_bucket_is_below_it(
    server: LiveServer, connect: Connect
) -> None:
    admin = await server.login()
    sessions = [await server.register(f"rollout{n}") for n in range(12)]
    buckets = {s: bucket_of(await user_id_of(server, s)) for s in sessions}
    percent = sorted(buckets.values())[6] + 1  # at least 7 users in, the others out
    inside = {s for s, b in buckets.items() if b < percent}
    assert 0 < len(inside) < len(sessions)
    clients = {s: await connect(server, s) for s in sessions}

    await put_rollout(server, admin, enabled=True, percent=percent)
    for s, client in clients.items():
        if s in inside:
            continue
        assert await client.wait_for("realtime:disabled") == [{"reason": "not_in_rollout"}]
        await client.wait_disconnected()
    for s in inside:  # still live: the socket answers
        assert (await clients[s].call("subscribe:portfolio"))["ok"] is True
        assert clients[s].of("realtime:disabled") == []
    for s in sessions:
        assert await realtime_for(server, s) == (s in inside)
        if s not in inside:
            async with Client() as again:
                assert await again.refused(server.url, s) == REFUSED
    assert not await realtime_for(server, None)  # not everyone: an anonymous client polls


async def test_real_time_off_at_start_is_turned_on_without_a_restart(
    tmp_path: Any, migrated_database: Any, connect: Connect
) -> None:
    from tests.realtime.conftest import fresh_settings

    settings = fresh_settings(tmp_path, migrated_database, realtime_enabled=False)
    async with LiveServer(settings) as server:
        admin = await server.login()
        assert not await realtime_for(server, admin)
        async with Client() as refused:
            assert await refused.refused(server.url, admin) == REFUSED
        async with server.http(admin) as http:
            assert (await http.get("/api/admin/realtime")).json() == {
                "enabled": False,
                "percent": 100,
            }
        await put_rollout(server, admin, enabled=True, percent=100)
        client = await connect(server, admin)
        assert (await client.call("subscribe:portfolio"))["ok"] is True
