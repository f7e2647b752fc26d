"""A socket's life on the server: logout ends it at once, a disconnect leaves nothing behind,
and a stopping server says `server:shutdown` to every socket before it lets them go. The last
test does that with the real process and SIGTERM, with an order in flight."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ServiceProcess
from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, Client, metric
from tests.realtime.conftest import Connect
from tests.support import DEMO, LiveServer
from tradewire.realtime.server import SHUTDOWN_RECONNECT_AFTER_MS, RealtimeServer


def realtime_of(server: LiveServer) -> RealtimeServer:
    assert server.services.realtime is not None
    return server.services.realtime


async def test_logout_disconnects_that_sessions_sockets_at_once_and_no_others(
    server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    leaving = await server.login()
    staying = await server.login()  # the same user on another device
    tab, other_tab = await connect(server, leaving), await connect(server, leaving)
    phone = await connect(server, staying)

    with caplog.at_level(logging.INFO, logger="tradewire.realtime"):
        async with server.http(leaving) as http:
            assert (await http.post("/api/auth/logout")).status_code == 204
        for client in (tab, other_tab):
            assert await client.wait_disconnected() == client.sio.reason.SERVER_DISCONNECT

    [record] = [
        r for r in caplog.records if r.getMessage() == "session revoked; sockets disconnected"
    ]
    assert (record.user_id, record.sockets) == (1, 2)  # type: ignore[attr-defined]
    # the other session's socket still works both ways
    assert phone.sio.connected
    assert (await phone.call("subscribe:portfolio"))["ok"]
    await server.place_order(staying, symbol="AAPL", side="buy", quantity=1)
    await phone.wait_for("trade:executed")
    assert realtime_of(server).sockets.keys() == {phone.sio.get_sid()}
    # and the revoked session cannot come back
    async with Client() as again:
        assert (await again.refused(server.url, leaving))["data"] == {"code": "UNAUTHORIZED"}


async def test_a_disconnect_leaves_no_state_behind(
    server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    realtime = realtime_of(server)
    gauge = metric("tradewire_socket_connections", transport="websocket")
    closed = {
        r: metric("tradewire_socket_disconnects_total", reason=r)
        for r in ("client disconnect", "transport close")
    }
    client = await connect(server, await server.login())
    sid = client.sio.get_sid()
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})
    for _ in range(31):
        await client.call("subscribe:portfolio")  # the last one is refused: a flood count
    assert sid in realtime.sockets and sid in realtime.batch_sockets
    assert sid in realtime.guard._abuse
    assert metric("tradewire_socket_connections", transport="websocket") == gauge + 1

    with caplog.at_level(logging.INFO, logger="tradewire.realtime"):
        await client.close()
        await wait_until(
            lambda: sid not in realtime.sockets,
            timeout=WAIT,
            what="the server to forget the socket",
        )

    assert sid not in realtime.batch_sockets
    assert sid not in realtime.guard._abuse
    assert metric("tradewire_socket_connections", transport="websocket") == gauge
    [record] = [r for r in caplog.records if r.getMessage() == "socket disconnected"]
    assert record.user_id == 1 and record.duration_s >= 0  # type: ignore[attr-defined]
    # python-socketio's client closes the transport along with its goodbye: either reason
    reason = record.reason  # type: ignore[attr-defined]
    assert reason in ("client disconnect", "transport close")
    assert metric("tradewire_socket_disconnects_total", reason=reason) == closed[reason] + 1


async def test_attaching_twice_does_not_push_twice(server: LiveServer, connect: Connect) -> None:
    demo = await server.login()
    client = await connect(server, demo)
    realtime_of(server).attach()

    await server.place_order(demo, symbol="AAPL", side="buy", quantity=1)

    await client.wait_for("portfolio:update")  # sent after the trade push
    assert len(client.of("trade:executed")) == 1


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_shutdown_tells_every_socket_and_then_disconnects_it(
    server: LiveServer, connect: Connect, transport: str
) -> None:
    realtime = realtime_of(server)
    session_id = await server.login()
    clients = [await connect(server, session_id, transports=[transport]) for _ in range(2)]

    await realtime.shutdown()

    for client in clients:
        assert await client.wait_disconnected() == client.sio.reason.SERVER_DISCONNECT
        assert client.names()[-2:] == ["server:shutdown", "disconnect"]
        assert client.of("server:shutdown") == [{"reconnectAfterMs": SHUTDOWN_RECONNECT_AFTER_MS}]
    assert realtime.sockets == {}
    # detached: domain events no longer reach the realtime layer
    assert realtime.emit_trade_notification not in server.services.executor.listeners(
        "trade:executed"
    )


# ---------------------------------------------------------------- SIGTERM, real process


def service_env(**extra: str) -> dict[str, str]:
    return {
        "MARKET_SEED": "7",
        "MARKET_TICK_RATE": "5",
        "AUTH_RATE_LIMIT": "1000/minute",
        "DASHBOARD_DIR": "/nonexistent",
        **extra,
    }


async def login(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
        r = await http.post("/api/auth/login", json=DEMO)
        r.raise_for_status()
        return str(r.json()["sessionId"])


@pytest.mark.slow
async def test_sigterm_notifies_sockets_finishes_the_order_in_flight_and_exits_zero(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with ServiceProcess(service_env(DATA_DIR=str(data_dir))) as service:
        session_id = await login(service.url)
        clients = [
            await Client().connect(service.url, session_id, transports=[t])
            for t in ("websocket", "polling")
        ]
        try:
            # hold SQLite's write lock, so the order below waits inside the server
            lock = sqlite3.connect(data_dir / "tradewire.db", timeout=WAIT, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            sent = asyncio.Event()

            async def trace(name: str, info: dict[str, Any]) -> None:
                if name == "http11.send_request_body.complete":
                    sent.set()

            async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
                order = asyncio.create_task(
                    http.post(
                        "/api/orders",
                        json={"symbol": "AAPL", "side": "buy", "quantity": 3},
                        headers={"Authorization": f"Bearer {session_id}"},
                        extensions={"trace": trace},
                    )
                )
                await asyncio.wait_for(sent.wait(), WAIT)

                started = time.monotonic()
                exit_code = asyncio.create_task(asyncio.to_thread(service.terminate, 10))
                for client in clients:
                    await client.wait_disconnected()
                    assert client.names()[-2:] == ["server:shutdown", "disconnect"]
                    assert client.of("server:shutdown") == [{"reconnectAfterMs": 1000}]
                assert not order.done(), "the order was not in flight during the shutdown"
                lock.rollback()

                response = await asyncio.wait_for(order, WAIT)
                assert response.status_code == 201, response.text
                assert response.json()["status"] == "filled"
                assert await exit_code == 0
                elapsed = time.monotonic() - started
        finally:
            lock.close()
            for client in clients:
                await client.close()
        assert elapsed < 10
        log = service.log_text()
        assert "realtime server stopped" in log and "sockets=2" in log
    # the fill was committed before the process went away
    db = sqlite3.connect(data_dir / "tradewire.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM trades").fetchone() == (1,)
    finally:
        db.close()
