"""Reconnection, done the way docs/WEBSOCKET.md tells clients to: socket.io retries a dropped
transport by itself, but not a disconnect the server decided (`io server disconnect`, e.g. after
`server:shutdown`); then the client connects again with back-off. It resubscribes on every
connect, and afterwards sees quotes and trades again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.harness import ServiceProcess
from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, ResubscribingClient
from tests.realtime.test_lifecycle import login, service_env
from tests.support import LiveServer


async def connects(client: ResubscribingClient, count: int, timeout: float = WAIT) -> None:
    await wait_until(
        lambda: (
            len(client.of("connect")) >= count
            and client.sio.connected
            and len(client.subscribe_acks) >= 2 * count
        ),
        timeout=timeout,
        what=f"connect #{count} and its two subscription acks "
        f"(seen: {client.names()[-8:]}, acks: {client.subscribe_acks[-2:]})",
    )
    assert all(ack["ok"] for ack in client.subscribe_acks), client.subscribe_acks


async def live_again(client: ResubscribingClient, place_order: object) -> None:
    """After the latest connect: a quote push arrives, and an order's trade is pushed."""
    since = [s for s in client.seen if s.name == "connect"][-1].at
    await wait_until(
        lambda: any(s.name == "quote:update" and s.at > since for s in client.seen),
        timeout=WAIT,
        what="a quote:update after reconnecting",
    )
    trades = len(client.of("trade:executed"))
    await place_order()  # type: ignore[operator]
    await client.wait_for("trade:executed", count=trades + 1)


async def test_after_a_server_side_disconnect_the_client_reconnects_and_resubscribes(
    server: LiveServer,
) -> None:
    session_id = await server.login()
    realtime = server.services.realtime
    assert realtime is not None
    client = await ResubscribingClient(server.url, session_id, ["AAPL", "MSFT"]).start()
    try:
        await connects(client, 1)
        first_sid = client.sio.get_sid()

        assert realtime.disconnect(first_sid)

        await connects(client, 2)
        assert client.of("disconnect") == [client.sio.reason.SERVER_DISCONNECT]
        assert client.sio.get_sid() != first_sid
        assert realtime.sockets[client.sio.get_sid()].symbols == {"AAPL", "MSFT"}
        await live_again(
            client, lambda: server.place_order(session_id, symbol="AAPL", side="buy", quantity=1)
        )
    finally:
        await client.close()


async def test_after_logout_the_client_stops_trying(server: LiveServer) -> None:
    session_id = await server.login()
    client = await ResubscribingClient(server.url, session_id, ["AAPL"]).start()
    try:
        await connects(client, 1)
        async with server.http(session_id) as http:
            await http.post("/api/auth/logout")
        await wait_until(
            lambda: client._reconnecting is not None and client._reconnecting.done(),
            timeout=WAIT,
            what="the client to give up reconnecting",
        )
        assert client.reconnect_attempts == 1
        assert client.of("connect_error")[-1]["data"] == {"code": "UNAUTHORIZED"}
        assert not client.sio.connected
    finally:
        await client.close()


def place_order_over_rest(url: str, session_id: str) -> object:
    async def place() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
            r = await http.post(
                "/api/orders",
                json={"symbol": "MSFT", "side": "buy", "quantity": 1},
                headers={"Authorization": f"Bearer {session_id}"},
            )
            assert r.status_code == 201, r.text

    return place


@pytest.mark.slow
async def test_after_a_restart_the_client_reconnects_with_the_same_session(tmp_path: Path) -> None:
    """SIGTERM (server:shutdown, then an io server disconnect), a new process on the same port
    and data directory: the login session is still valid and the client carries on."""
    with ServiceProcess(service_env()) as service:
        session_id = await login(service.url)
        client = await ResubscribingClient(service.url, session_id, ["AAPL", "MSFT"]).start()
        try:
            await connects(client, 1)

            await asyncio.to_thread(service.restart)

            await connects(client, 2, timeout=30)
            assert client.of("server:shutdown") == [{"reconnectAfterMs": 1000}]
            assert client.of("disconnect") == [client.sio.reason.SERVER_DISCONNECT]
            await live_again(client, place_order_over_rest(service.url, session_id))
        finally:
            await client.close()
        print(f"\nrestart: reconnected after {client.reconnect_attempts} attempt(s)")


@pytest.mark.slow
async def test_after_a_crash_socketio_reconnects_by_itself(tmp_path: Path) -> None:
    """SIGKILL: no goodbye, the transport just drops; socket.io's own reconnection brings the
    client back once a new process listens on the same port."""
    with ServiceProcess(service_env()) as service:
        session_id = await login(service.url)
        client = await ResubscribingClient(service.url, session_id, ["AAPL"]).start()
        try:
            await connects(client, 1)

            await asyncio.to_thread(service.kill)
            await wait_until(
                lambda: not client.sio.connected,
                timeout=WAIT,
                what="the client to notice the crash",
            )
            await asyncio.to_thread(service.start)

            await connects(client, 2, timeout=30)
            assert client.of("server:shutdown") == []
            assert client.of("disconnect")[0] != client.sio.reason.SERVER_DISCONNECT
            assert client.reconnect_attempts == 0  # socket.io did it, not our back-off
            await live_again(client, place_order_over_rest(service.url, session_id))
        finally:
            await client.close()
