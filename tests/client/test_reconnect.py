"""Reconnecting against real servers, as docs/WEBSOCKET.md ("Reconnecting") tells clients to:
after a server-side disconnect and after a dropped transport the client connects again with
back-off and sends its subscriptions again; after a logout it stops with `Unauthorized`, and
when real time is turned off with `RealtimeDisabled`; a `RATE_LIMITED` refusal is honoured
until `retryAfterMs` has passed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.client.conftest import MakeClient
from tests.harness import ServiceProcess
from tests.harness.waiting import clear_of_a_minute_edge, wait_until
from tests.realtime.clients import WAIT, metric
from tests.realtime.conftest import fresh_settings
from tests.realtime.test_lifecycle import service_env
from tests.support import LiveServer
from tradewire.client import (
    QUOTE_UPDATE,
    REALTIME_DISABLED,
    SERVER_SHUTDOWN,
    TRADE_EXECUTED,
    RateLimited,
    RealtimeDisabled,
    Snapshots,
    TradewireClient,
    Unauthorized,
)
from tradewire.client.connection import SERVER_DISCONNECT, TRANSPORT_CLOSE


def record(client: TradewireClient) -> tuple[list[Snapshots], list[str]]:
    connects: list[Snapshots] = []
    disconnects: list[str] = []
    client.on_connect(connects.append)
    client.on_disconnect(disconnects.append)
    return connects, disconnects


async def reconnected(connects: list[Snapshots], count: int, timeout: float = WAIT) -> Snapshots:
    await wait_until(
        lambda: len(connects) >= count,
        timeout=timeout,
        what=f"connect #{count} and its resubscriptions (got {len(connects)})",
    )
    return connects[count - 1]


async def test_after_a_server_side_disconnect_it_reconnects_and_resubscribes(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, reconnect_delay=0.05)
    connects, disconnects = record(client)
    await client.connect()
    await client.subscribe_portfolio()
    await client.subscribe_trades()
    await client.subscribe_watchlist(["AAPL", "MSFT"], batch=False)
    await client.unsubscribe_watchlist(["MSFT"])
    realtime = server.services.realtime
    assert realtime is not None
    first_sid = client.sid
    assert first_sid is not None

    assert realtime.disconnect(first_sid)

    snapshots = await reconnected(connects, 2)
    assert disconnects == [SERVER_DISCONNECT]
    assert snapshots.reconnect and client.reconnect_attempts == 1
    assert snapshots.portfolio is not None and snapshots.portfolio.portfolio.user_id == 1
    assert snapshots.trades is not None
    assert snapshots.quotes is not None
    assert [q.symbol for q in snapshots.quotes.quotes] == ["AAPL"]
    assert client.sid not in (None, first_sid)
    assert realtime.sockets[client.sid].symbols == {"AAPL"}  # type: ignore[index]
    async with client.stream(QUOTE_UPDATE) as quotes, asyncio.timeout(WAIT):
        assert (await anext(quotes)).symbol == "AAPL"


def drop_transport(server: LiveServer, sid: str) -> None:
    """The client's network goes: its TCP connection is cut under the server's feet."""
    realtime = server.services.realtime
    assert realtime is not None
    engine_socket = realtime.sockets[sid].socket.connection.engine_socket
    assert engine_socket.ws is not None and engine_socket.ws.transport is not None
    engine_socket.ws.transport.abort()


async def test_after_a_dropped_transport_it_recovers_and_gets_each_missed_fill_once(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, reconnect_delay=1.0)
    connects, disconnects = record(client)
    await client.connect()
    await client.subscribe_portfolio()
    await client.subscribe_trades()
    fills = client.stream(TRADE_EXECUTED)
    session_id = client.session_id
    assert session_id is not None
    first = await server.place_order(session_id, symbol="AAPL", side="buy", quantity=1)
    async with asyncio.timeout(WAIT):
        assert (await anext(fills)).order_id == first["orderId"]  # it holds an offset now
    sid = client.sid
    assert sid is not None

    drop_transport(server, sid)
    await wait_until(lambda: not client.connected, timeout=WAIT, what="the client to notice")
    missed = [
        (await server.place_order(session_id, symbol="MSFT", side="buy", quantity=n))["orderId"]
        for n in (1, 2, 3)
    ]  # while it waits its back-off (0.5 s at least)

    snapshots = await reconnected(connects, 2)
    assert disconnects == [TRANSPORT_CLOSE]
    assert snapshots.recovered and snapshots.missed == [] and client.sid == sid
    async with asyncio.timeout(WAIT):
        replayed = [(await anext(fills)).order_id for _ in missed]
    assert replayed == missed  # exactly the missed fills, in order
    with pytest.raises(TimeoutError):  # and none twice
        async with asyncio.timeout(0.5):
            await anext(fills)


async def test_without_recovery_a_reconnect_reports_what_the_user_missed(
    tmp_path: Path, migrated_database: Path, make_client: MakeClient
) -> None:
    settings = fresh_settings(tmp_path, migrated_database, recovery_window=0)
    async with LiveServer(settings) as server:
        client = await make_client(server, reconnect_delay=2.0)
        connects, _ = record(client)
        await client.connect()
        await client.subscribe_trades()
        session_id = client.session_id
        assert session_id is not None and client.sid is not None
        realtime = server.services.realtime
        assert realtime is not None

        assert realtime.disconnect(client.sid)
        await wait_until(lambda: not client.connected, timeout=WAIT, what="the disconnect")
        placed = [
            (await server.place_order(session_id, symbol="AAPL", side="buy", quantity=1))
            for _ in range(2)
        ]  # while it waits its back-off (1 s at least)

        snapshots = await reconnected(connects, 2, timeout=WAIT + 5)
        assert not snapshots.recovered
        fills = [e.data for e in snapshots.missed if e.event == "trade:executed"]
        assert [f.order_id for f in fills] == [o["orderId"] for o in placed]  # type: ignore[union-attr]
        assert {e.event for e in snapshots.missed} == {"trade:executed", "portfolio:update"}
        assert snapshots.trades is not None  # the snapshot has them too
        assert {t.order_id for t in snapshots.trades.trades} >= {o["orderId"] for o in placed}


async def test_after_logout_it_stops_with_unauthorized(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, reconnect_delay=0.05)
    connects, disconnects = record(client)
    await client.connect()
    trades = client.stream(TRADE_EXECUTED)

    await client.rest.logout()

    with pytest.raises(Unauthorized):
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
    assert disconnects == [SERVER_DISCONNECT]
    assert client.reconnect_attempts == 1 and len(connects) == 1
    assert not client.connected
    with pytest.raises(Unauthorized):
        await anext(trades)


async def test_when_real_time_is_turned_off_it_stops_and_a_new_connect_is_refused(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, reconnect_delay=0.05)
    connects, disconnects = record(client)
    await client.connect()
    notices = client.stream(REALTIME_DISABLED)
    async with server.http(client.session_id) as http:  # demo is an administrator
        r = await http.put("/api/admin/realtime", json={"enabled": False, "percent": 100})
        assert r.status_code == 200, r.text

    with pytest.raises(RealtimeDisabled):
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
    assert disconnects == [SERVER_DISCONNECT]
    assert client.reconnect_attempts == 0 and len(connects) == 1  # not retried
    assert (await anext(notices)).reason == "disabled"
    assert not (await client.rest.config()).realtime_enabled

    other = await make_client(server)
    with pytest.raises(RealtimeDisabled):
        await other.connect()  # the handshake is refused with REALTIME_DISABLED

    async with server.http(client.session_id) as http:
        r = await http.put("/api/admin/realtime", json={"enabled": True, "percent": 100})
        assert r.status_code == 200, r.text
    assert (await other.rest.config()).realtime_enabled
    await other.connect()
    assert other.connected


async def test_a_rate_limited_event_is_not_sent_again_before_retry_after(
    server: LiveServer, make_client: MakeClient
) -> None:
    await clear_of_a_minute_edge()
    client = await make_client(server)
    await client.connect()
    with pytest.raises(RateLimited) as refused:
        for _ in range(31):  # 30 a minute per user
            await client.subscribe_portfolio()
    assert refused.value.retry_after_ms > 0 and refused.value.code == "RATE_LIMITED"
    counted = metric("tradewire_socket_rate_limited_total", event="subscribe:portfolio")

    with pytest.raises(RateLimited) as again:
        await client.subscribe_portfolio()

    assert 0 < again.value.retry_after_ms <= refused.value.retry_after_ms
    assert metric("tradewire_socket_rate_limited_total", event="subscribe:portfolio") == counted
    await client.subscribe_trades()  # other kinds of events are not held back


@pytest.mark.slow
async def test_after_a_restart_and_after_a_crash_it_reconnects_and_resubscribes() -> None:
    """SIGTERM: `server:shutdown` then a server-side disconnect, the back-off starts at its
    `reconnectAfterMs`. SIGKILL: the transport just drops. Both times a new process on the same
    port and data directory takes the same session, and the client carries on."""
    with ServiceProcess(service_env()) as service:
        async with TradewireClient(service.url, reconnect_delay=0.2) as client:
            connects, disconnects = record(client)
            await client.login("demo", "demo-password")
            await client.connect()
            await client.subscribe_watchlist(["AAPL"])
            fills = client.stream(TRADE_EXECUTED)
            notices = client.stream(SERVER_SHUTDOWN)

            await asyncio.to_thread(service.restart)

            snapshots = await reconnected(connects, 2, timeout=30)
            assert disconnects == [SERVER_DISCONNECT]
            assert (await anext(notices)).reconnect_after_ms == 1000
            assert snapshots.quotes is not None
            assert [q.symbol for q in snapshots.quotes.quotes] == ["AAPL"]

            await asyncio.to_thread(service.kill)
            await wait_until(lambda: disconnects[1:], timeout=WAIT, what="the crash noticed")
            assert disconnects[1] == TRANSPORT_CLOSE
            await asyncio.to_thread(service.start)

            snapshots = await reconnected(connects, 3, timeout=30)
            assert snapshots.quotes is not None
            order = await client.place_order("AAPL", "buy", 1)
            async with asyncio.timeout(WAIT):
                fill = await anext(fills)
            assert fill.order_id == order.order_id
