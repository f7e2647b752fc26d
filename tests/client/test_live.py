"""The Python client against a real tradewire server on a free loopback port: log in,
connect, subscribe, typed pushes, orders over REST, refusals as typed exceptions."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.client.conftest import MakeClient
from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT
from tests.realtime.conftest import publish
from tests.support import LiveServer, sample_quote
from tradewire.client import (
    PORTFOLIO_UPDATE,
    QUOTE_UPDATE,
    QUOTES_UPDATE,
    TRADE_EXECUTED,
    TRADE_FAILED,
    AuthenticationFailed,
    Forbidden,
    InvalidPayload,
    LimitExceeded,
    NotConnected,
    TradewireClient,
    Unauthorized,
    UnknownSymbol,
)
from tradewire.schemas import Portfolio, Quote, TradeFailed, TradeOut


async def test_login_connect_subscribe_and_quotes_arrive_typed(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server)
    await client.connect()
    assert client.connected and client.sid
    realtime = server.services.realtime
    assert realtime is not None
    async with client.stream(QUOTE_UPDATE) as quotes:
        ack = await client.subscribe_watchlist(["aapl", "MSFT"])
        assert [q.symbol for q in ack.quotes] == ["AAPL", "MSFT"]
        assert realtime.sockets[client.sid].symbols == {"AAPL", "MSFT"}
        seen: set[str] = set()
        async with asyncio.timeout(WAIT):
            async for quote in quotes:
                assert isinstance(quote, Quote) and isinstance(quote.last, Decimal)
                seen.add(quote.symbol)
                if seen == {"AAPL", "MSFT"}:
                    break
    left = await client.unsubscribe_watchlist(["MSFT"])
    assert left.symbols == ["AAPL"]


async def test_batched_quotes_arrive_as_quote_batches(
    quiet_server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(quiet_server)
    await client.connect()
    batches = client.stream(QUOTES_UPDATE)
    await client.subscribe_watchlist(["AAPL"], batch=True)
    await publish(quiet_server, sample_quote("AAPL", 1_000, "101.50"))
    async with asyncio.timeout(WAIT):
        batch = await anext(batches)
    assert [(q.symbol, q.last) for q in batch.quotes] == [("AAPL", Decimal("101.50"))]


async def test_an_order_gives_trade_executed_and_portfolio_update(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server)
    await client.connect()
    trades: list[TradeOut] = []
    portfolios: list[Portfolio] = []
    client.on(TRADE_EXECUTED, trades.append)

    async def remember(portfolio: Portfolio) -> None:  # a coroutine handler runs as a task
        portfolios.append(portfolio)

    client.on(PORTFOLIO_UPDATE, remember)
    snapshot = await client.subscribe_portfolio()
    history = await client.subscribe_trades()
    assert history.trades == []

    order = await client.place_order("AAPL", "buy", 2)

    assert order.status == "filled"
    await wait_until(
        lambda: trades and portfolios, timeout=WAIT, what="trade:executed and portfolio:update"
    )
    assert trades[0].order_id == order.order_id and trades[0].quantity == 2
    assert portfolios[-1].cash < snapshot.portfolio.cash
    assert [p.symbol for p in portfolios[-1].positions] == ["AAPL"]


async def test_a_rejected_order_gives_trade_failed(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server)
    await client.connect()
    failures = client.stream(TRADE_FAILED)
    order = await client.place_order("MSFT", "sell", 5)
    assert order.status == "rejected"
    async with asyncio.timeout(WAIT):
        failed = await anext(failures)
    assert isinstance(failed, TradeFailed)
    assert (failed.order.order_id, failed.reason) == (order.order_id, "INSUFFICIENT_SHARES")


async def test_a_limit_order_rests_until_the_market_crosses_it(
    quiet_server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(quiet_server)
    await client.connect()
    fills = client.stream(TRADE_EXECUTED)
    await publish(quiet_server, sample_quote("AAPL", 1_000, "120.00"))
    order = await client.place_order("AAPL", "buy", 1, type="limit", limit_price="110.00")
    assert (order.status, order.limit_price) == ("open", Decimal("110.00"))
    assert [o.order_id for o in await client.rest.orders("open")] == [order.order_id]

    await publish(quiet_server, sample_quote("AAPL", 1_001, "109.50"))

    async with asyncio.timeout(WAIT):
        fill = await anext(fills)
    assert fill.order_id == order.order_id and fill.price <= Decimal("110.00")


async def test_bad_credentials_raise_authentication_failed(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, login=False)
    with pytest.raises(AuthenticationFailed) as caught:
        await client.login("demo", "not-the-password")
    assert caught.value.status == 401 and caught.value.code == "INVALID_CREDENTIALS"
    with pytest.raises(Unauthorized):
        await client.connect()  # no session at all


async def test_a_bad_session_is_refused_with_unauthorized(
    server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(server, login=False)
    with pytest.raises(Unauthorized) as caught:
        await client.connect("not-a-session")
    assert caught.value.code == "UNAUTHORIZED" and caught.value.message == "unauthorized"
    assert not client.connected
    with pytest.raises(NotConnected):
        await client.subscribe_portfolio()


async def test_refused_events_raise_typed_errors(
    quiet_server: LiveServer, make_client: MakeClient
) -> None:
    client = await make_client(quiet_server)
    await client.connect()
    with pytest.raises(UnknownSymbol) as unknown:
        await client.subscribe_watchlist(["AAPL", "NOPE"])
    assert unknown.value.symbols == ["NOPE"]
    with pytest.raises(InvalidPayload) as invalid:
        await client.subscribe_watchlist([])
    assert "symbols" in invalid.value.message
    symbols = [s.symbol for s in await client.rest.symbols()]
    await client.subscribe_watchlist(symbols[:50])
    with pytest.raises(LimitExceeded):
        await client.subscribe_watchlist([symbols[50]])
    assert client.connected  # a refused event never drops the connection
    stats = await client.subscribe_ops()  # demo is an administrator
    assert stats.stats.connections >= 1
    await client.unsubscribe_ops()

    trader = await make_client(quiet_server, login=False)
    await trader.connect(await quiet_server.register("plain-trader"))
    with pytest.raises(Forbidden):
        await trader.subscribe_ops()


async def test_the_client_closes_cleanly_and_streams_end(
    server: LiveServer,
) -> None:
    async with TradewireClient(server.url) as client:
        await client.login("demo", "demo-password")
        await client.connect()
        stream = client.stream(QUOTE_UPDATE)
    assert not client.connected
    assert [q async for q in stream] == []
