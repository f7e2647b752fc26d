"""Server pushes: what reaches which socket, in what shape. Trades and portfolios go to every
socket of their user and to nobody else; quotes go to the sockets watching that symbol, one
`quote:update` per tick or, for sockets that asked for `batch: true`, one `quotes:update` per
flush with the latest quote of each watched symbol."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, Client, metric
from tests.realtime.conftest import Connect, publish
from tests.support import LiveServer
from tests.support import sample_quote as quote
from tradewire.realtime.server import QUOTE_BATCH_INTERVAL, USER_EVENTS_CHANNEL, RealtimeServer
from tradewire.schemas import (
    OrderOut,
    PortfolioUpdate,
    Position,
    QuoteBatch,
    TradeExecuted,
    TradeFailedEvent,
)

WHEN = datetime(2026, 3, 2, 14, 30, 5, 123000, tzinfo=UTC)

TRADE = TradeExecuted(
    seq=1,
    epoch="0123456789abcdef",
    trade_id=7,
    order_id=9,
    symbol="AAPL",
    side="buy",
    quantity=2,
    price=Decimal("189.52"),
    total=Decimal("379.04"),
    executed_at=WHEN,
)
PORTFOLIO = PortfolioUpdate(
    seq=2,
    epoch="0123456789abcdef",
    user_id=1,
    cash=Decimal("99620.96"),
    positions=[
        Position(
            symbol="AAPL",
            quantity=2,
            avg_cost=Decimal("189.5200"),
            last=Decimal("189.50"),
            market_value=Decimal("379.00"),
            unrealized_pnl=Decimal("-0.04"),
        )
    ],
    positions_value=Decimal("379.00"),
    total_value=Decimal("99999.96"),
    unrealized_pnl=Decimal("-0.04"),
    as_of=WHEN,
)
FAILED = TradeFailedEvent(
    order=OrderOut(
        order_id=10,
        symbol="AAPL",
        side="buy",
        type="market",
        quantity=999999,
        limit_price=None,
        status="rejected",
        reject_reason="INSUFFICIENT_CASH",
        created_at=WHEN,
        updated_at=WHEN,
    ),
    reason="INSUFFICIENT_CASH",
    message="Not enough cash for this order.",
    seq=3,
    epoch="0123456789abcdef",
)


def realtime_of(server: LiveServer) -> RealtimeServer:
    assert server.services.realtime is not None
    return server.services.realtime


# ---------------------------------------------------------------- emit methods


@pytest.mark.parametrize(
    ("event", "emit", "payload"),
    [
        ("trade:executed", "emit_trade_notification", TRADE),
        ("portfolio:update", "emit_portfolio_update", PORTFOLIO),
        ("trade:failed", "emit_trade_failed", FAILED),
    ],
    ids=["trade", "portfolio", "failed"],
)
async def test_user_pushes_reach_every_socket_of_that_user_and_no_other(
    quiet_server: LiveServer,
    connect: Connect,
    event: str,
    emit: str,
    payload: TradeExecuted | PortfolioUpdate | TradeFailedEvent,
) -> None:
    demo_session = await quiet_server.login()
    demo_tab, demo_phone = (
        await connect(quiet_server, demo_session),
        await connect(quiet_server, await quiet_server.login()),
    )
    bob = await connect(quiet_server, await quiet_server.register("bob"))
    realtime = realtime_of(quiet_server)

    await getattr(realtime, emit)(1, payload)
    await getattr(realtime, emit)(2, payload)  # the positive control for bob

    for client in (demo_tab, demo_phone, bob):
        [received] = await client.wait_for(event)
        assert received == payload.wire()
        # the recovery offset after the payload: the event's seq
        assert client.offsets(event) == [str(payload.seq)]
    # the wire form: camelCase, decimals as strings, times as ISO 8601 UTC
    wire = demo_tab.of(event)[0]
    assert set(wire) == {f.alias for f in type(payload).model_fields.values()}
    assert type(payload).model_validate(wire) == payload


def test_the_wire_forms_are_camel_case_with_decimal_strings() -> None:
    assert TRADE.wire() == {
        "tradeId": 7,
        "orderId": 9,
        "symbol": "AAPL",
        "side": "buy",
        "quantity": 2,
        "price": "189.52",
        "total": "379.04",
        "executedAt": "2026-03-02T14:30:05.123000Z",
        "seq": 1,
        "epoch": "0123456789abcdef",
    }
    assert FAILED.wire()["order"]["rejectReason"] == "INSUFFICIENT_CASH"
    assert PORTFOLIO.wire()["positions"][0]["avgCost"] == "189.5200"


async def test_quote_updates_reach_only_the_sockets_watching_the_symbol(
    quiet_server: LiveServer, connect: Connect
) -> None:
    session_id = await quiet_server.login()
    apple, microsoft, nothing = [await connect(quiet_server, session_id) for _ in range(3)]
    await apple.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    await microsoft.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    sent = quote("AAPL", seq=2, last="100.25")

    await realtime_of(quiet_server).emit_quote_update(sent)
    await realtime_of(quiet_server).emit_quote_update(quote("MSFT", seq=2))

    [received] = await apple.wait_for("quote:update")
    assert received == sent.wire()
    assert received["last"] == "100.25" and received["changePct"] == "0.25"
    assert isinstance(received["ts"], int)
    assert set(received) == {
        "symbol",
        "bid",
        "ask",
        "last",
        "open",
        "change",
        "changePct",
        "seq",
        "ts",
    }
    [control] = await microsoft.wait_for("quote:update")
    assert control["symbol"] == "MSFT"
    assert nothing.of("quote:update") == []


async def test_every_tick_of_the_feed_is_pushed_in_order(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    await publish(quiet_server, *(quote("AAPL", seq=s) for s in range(2, 12)))
    updates = await client.wait_for("quote:update", count=10)
    assert [u["seq"] for u in updates] == list(range(2, 12))


async def test_the_live_market_reaches_a_watching_socket(
    server: LiveServer, connect: Connect
) -> None:
    """No test double: the simulated feed ticks (5 per second per symbol here)."""
    client = await connect(server, await server.login())
    ack = await client.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"]})
    first = {q["symbol"]: q["seq"] for q in ack["quotes"]}
    updates = await client.wait_for("quote:update", count=3)
    assert {u["symbol"] for u in updates} <= {"AAPL", "MSFT"}
    assert all(u["seq"] > first[u["symbol"]] for u in updates)


# ---------------------------------------------------------------- orders over REST


async def test_an_order_pushes_the_trade_and_the_portfolio_to_each_socket_of_the_user(
    server: LiveServer, connect: Connect
) -> None:
    demo = await server.login()
    tab, phone = await connect(server, demo), await connect(server, await server.login())
    bob_session = await server.register("bob")
    bob = await connect(server, bob_session)

    order = await server.place_order(demo, symbol="AAPL", side="buy", quantity=2)

    assert order["status"] == "filled"
    for client in (tab, phone):
        [trade] = await client.wait_for("trade:executed")
        assert (trade["orderId"], trade["symbol"], trade["side"], trade["quantity"]) == (
            order["orderId"],
            "AAPL",
            "buy",
            2,
        )
        assert Decimal(trade["price"]) == Decimal(order["fillPrice"])
        assert Decimal(trade["total"]) == Decimal(trade["price"]) * 2
        [portfolio] = await client.wait_for("portfolio:update")
        assert portfolio["userId"] == 1
        assert [(p["symbol"], p["quantity"]) for p in portfolio["positions"]] == [("AAPL", 2)]
        assert Decimal(portfolio["cash"]) == Decimal("100000.00") - Decimal(trade["total"])

    # bob's own order is the positive control: when his push has arrived, demo's would have
    bob_order = await server.place_order(bob_session, symbol="MSFT", side="buy", quantity=1)
    [bob_trade] = await bob.wait_for("trade:executed")
    assert bob_trade["orderId"] == bob_order["orderId"]
    [bob_portfolio] = await bob.wait_for("portfolio:update")
    assert bob_portfolio["userId"] == 2
    # and the same the other way round
    await server.place_order(demo, symbol="AAPL", side="sell", quantity=1)
    for client in (tab, phone):
        trades = await client.wait_for("trade:executed", count=2)
        assert [t["side"] for t in trades] == ["buy", "sell"]
        assert all(t["symbol"] == "AAPL" for t in trades)


async def test_a_rejected_order_pushes_trade_failed_with_the_reason(
    server: LiveServer, connect: Connect
) -> None:
    demo = await server.login()
    client = await connect(server, demo)

    order = await server.place_order(demo, symbol="AAPL", side="sell", quantity=5)

    assert order["status"] == "rejected"
    [failed] = await client.wait_for("trade:failed")
    assert failed["reason"] == "INSUFFICIENT_SHARES"
    assert failed["message"] == "You do not hold enough shares to sell."
    assert failed["order"]["orderId"] == order["orderId"]
    assert failed["order"]["status"] == "rejected"
    assert failed["order"]["rejectReason"] == "INSUFFICIENT_SHARES"
    assert TradeFailedEvent.model_validate(failed).reason == "INSUFFICIENT_SHARES"
    assert client.of("trade:executed") == [] and client.of("portfolio:update") == []


async def test_a_resting_limit_order_that_fills_on_a_quote_is_pushed(
    quiet_server: LiveServer, connect: Connect
) -> None:
    demo = await quiet_server.login()
    client = await connect(quiet_server, demo)
    order = await quiet_server.place_order(
        demo, symbol="AAPL", side="buy", quantity=1, type="limit", limitPrice="150.00"
    )
    assert order["status"] == "open"

    await publish(quiet_server, quote("AAPL", seq=2, last="149.00"))

    [trade] = await client.wait_for("trade:executed")
    assert trade["orderId"] == order["orderId"] and trade["price"] == "149.01"
    await client.wait_for("portfolio:update")


# ---------------------------------------------------------------- batch mode


async def test_a_batching_socket_gets_the_latest_quote_of_its_symbols_only(
    quiet_server: LiveServer, connect: Connect
) -> None:
    session_id = await quiet_server.login()
    batching = await connect(quiet_server, session_id)
    plain = await connect(quiet_server, session_id)
    ack = await batching.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"], "batch": True})
    assert [q["symbol"] for q in ack["quotes"]] == ["AAPL", "MSFT"]
    await plain.call("subscribe:watchlist", {"symbols": ["AAPL"]})

    # three AAPL ticks and two others inside one flush interval
    await publish(
        quiet_server,
        quote("AAPL", seq=2),
        quote("NVDA", seq=2),
        quote("AAPL", seq=3),
        quote("MSFT", seq=2),
        quote("AAPL", seq=4, last="101.00"),
    )

    [batch] = await batching.wait_for("quotes:update")
    by_symbol = {q["symbol"]: q for q in QuoteBatch.model_validate(batch).wire()["quotes"]}
    assert sorted(by_symbol) == ["AAPL", "MSFT"]  # nothing it did not ask for
    assert by_symbol["AAPL"]["seq"] == 4 and by_symbol["AAPL"]["last"] == "101.00"  # latest wins
    assert by_symbol["MSFT"]["seq"] == 2
    # a batching socket gets no single pushes, a plain one gets every tick and no batch
    assert batching.of("quote:update") == []
    updates = await plain.wait_for("quote:update", count=3)
    assert [u["seq"] for u in updates] == [2, 3, 4]
    assert plain.of("quotes:update") == []


async def test_batches_are_flushed_on_an_interval_and_only_when_something_changed(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})

    await publish(quiet_server, quote("AAPL", seq=2))
    await client.wait_for("quotes:update", count=1)
    await publish(quiet_server, quote("AAPL", seq=3))
    batches = await client.wait_for("quotes:update", count=2)

    assert [b["quotes"][0]["seq"] for b in batches] == [2, 3]
    gaps = [
        b.at - a.at
        for a, b in zip(
            [s for s in client.seen if s.name == "quotes:update"],
            [s for s in client.seen if s.name == "quotes:update"][1:],
            strict=False,
        )
    ]
    assert all(g > 0 for g in gaps)
    assert QUOTE_BATCH_INTERVAL == 0.05  # the documented interval


async def test_switching_to_batch_mode_moves_the_existing_subscriptions(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    realtime = realtime_of(quiet_server)
    sid = client.sio.get_sid()
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"]})

    await client.call("subscribe:watchlist", {"symbols": ["MSFT"], "batch": True})

    assert realtime.sockets[sid].symbols == {"AAPL", "MSFT"}
    assert sid in realtime.batch_sockets
    assert "quote:AAPL" not in realtime.sockets[sid].socket.rooms
    await publish(quiet_server, quote("AAPL", seq=2), quote("MSFT", seq=2))
    [batch] = await client.wait_for("quotes:update")
    assert sorted(q["symbol"] for q in batch["quotes"]) == ["AAPL", "MSFT"]
    assert client.of("quote:update") == []

    # and back: plain pushes for both, no more batches
    await client.call("subscribe:watchlist", {"symbols": ["NVDA"], "batch": False})
    assert sid not in realtime.batch_sockets
    await publish(quiet_server, quote("AAPL", seq=3), quote("NVDA", seq=3))
    updates = await client.wait_for("quote:update", count=2)
    assert [u["symbol"] for u in updates] == ["AAPL", "NVDA"]
    assert len(client.of("quotes:update")) == 1


async def test_unsubscribing_every_batched_symbol_ends_the_batches(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    other = await connect(quiet_server, await quiet_server.login())
    realtime = realtime_of(quiet_server)
    await client.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"], "batch": True})
    await other.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})

    await client.call("unsubscribe:watchlist", {"symbols": ["AAPL"]})
    assert client.sio.get_sid() in realtime.batch_sockets
    await client.call("unsubscribe:watchlist", {"symbols": ["MSFT"]})
    assert client.sio.get_sid() not in realtime.batch_sockets

    await publish(quiet_server, quote("AAPL", seq=2), quote("MSFT", seq=2))
    await other.wait_for("quotes:update")  # the control: the flush happened
    assert client.of("quotes:update") == []


async def test_a_batch_flush_that_fails_is_logged_and_the_flusher_goes_on(
    quiet_server: LiveServer,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    realtime = realtime_of(quiet_server)
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})
    calls = 0
    real_flush = realtime.flush_batches

    def flaky(group: int | None = None) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return real_flush(group)

    monkeypatch.setattr(realtime, "flush_batches", flaky)
    with caplog.at_level(logging.ERROR, logger="tradewire.realtime"):
        await publish(quiet_server, quote("AAPL", seq=2))  # wakes the flusher; its first call fails
        [batch] = await client.wait_for("quotes:update")
    assert [q["seq"] for q in batch["quotes"]] == [2]
    assert calls > 1
    assert any(r.getMessage() == "quote batch flush failed" for r in caplog.records)


# ---------------------------------------------------------------- failing emits


async def test_a_failing_emit_is_logged_and_counted_and_trading_goes_on(
    server: LiveServer,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo = await server.login()
    client = await connect(server, demo)
    await client.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    realtime = realtime_of(server)
    failures = metric("tradewire_socket_emit_failures_total", event="trade:executed")
    quote_failures = metric("tradewire_socket_emit_failures_total", event="quote:update")
    real_emit, real_publish = realtime.bus.publish, realtime.fanout.publish

    async def broken_emit(channel: str, message: dict[str, Any]) -> None:
        if channel == USER_EVENTS_CHANNEL:  # user pushes fail; the rest of the bus works
            raise ConnectionError("message queue unreachable")
        await real_emit(channel, message)

    def broken_publish(*args: object) -> None:
        raise ConnectionError("socket table corrupted")

    monkeypatch.setattr(realtime.bus, "publish", broken_emit)
    monkeypatch.setattr(realtime.fanout, "publish", broken_publish)
    with caplog.at_level(logging.ERROR, logger="tradewire.realtime"):
        order = await server.place_order(demo, symbol="AAPL", side="buy", quantity=1)
        # the order is filled and stored even though nobody could be told
        assert order["status"] == "filled"
        async with server.http(demo) as http:
            assert len((await http.get("/api/trades")).json()) == 1
        # the feed keeps ticking into the cache while its pushes fail
        seq = (await server.services.quotes.latest("AAPL")).seq  # type: ignore[union-attr]

        async def aapl_ticked() -> bool:
            latest = await server.services.quotes.latest("AAPL")
            return latest is not None and latest.seq > seq

        await wait_until(aapl_ticked, timeout=WAIT, what="AAPL to tick while pushes fail")
        assert server.services.feed.running
        assert metric("tradewire_socket_emit_failures_total", event="quote:update") > quote_failures

    assert metric("tradewire_socket_emit_failures_total", event="trade:executed") == failures + 1
    failed = [r for r in caplog.records if r.getMessage() == "emit failed"]
    trade_failure = next(r for r in failed if r.event == "trade:executed")  # type: ignore[attr-defined]
    assert trade_failure.room == "user:1"  # type: ignore[attr-defined]
    assert "message queue unreachable" in trade_failure.error  # type: ignore[attr-defined]

    monkeypatch.setattr(realtime.bus, "publish", real_emit)
    monkeypatch.setattr(realtime.fanout, "publish", real_publish)
    await server.place_order(demo, symbol="AAPL", side="buy", quantity=1)
    [trade] = await client.wait_for("trade:executed")
    assert trade["quantity"] == 1
    await client.wait_for("quote:update")


async def test_an_emit_is_counted_once_per_call(quiet_server: LiveServer, connect: Connect) -> None:
    session_id = await quiet_server.login()
    clients: list[Client] = [await connect(quiet_server, session_id) for _ in range(3)]
    before = metric("tradewire_socket_messages_emitted_total", event="trade:executed")
    await realtime_of(quiet_server).emit_trade_notification(1, TRADE)
    for c in clients:
        await c.wait_for("trade:executed")
    assert metric("tradewire_socket_messages_emitted_total", event="trade:executed") == before + 1
