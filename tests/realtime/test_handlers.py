"""Client events and their acks: `subscribe:portfolio`, `subscribe:trades`,
`subscribe:watchlist`, `unsubscribe:watchlist`. Every answer is `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}}`, and no bad payload ever drops the connection."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, Client, metric
from tests.realtime.conftest import Connect, publish
from tests.support import LiveServer
from tests.support import sample_quote as quote
from tradewire.market.symbols import UNIVERSE
from tradewire.schemas import OrderIn, Portfolio, Quote, TradeOut


def error_code(ack: Any) -> str:
    assert ack["ok"] is False, ack
    assert set(ack["error"]) >= {"code", "message"} and ack["error"]["message"], ack
    return str(ack["error"]["code"])


async def still_served(server: LiveServer, client: Client) -> None:
    """The socket is connected and both directions still work."""
    assert client.sio.connected
    assert (await client.call("subscribe:watchlist", {"symbols": ["MSFT"]}))["ok"]
    await publish(server, quote("MSFT", seq=900))
    await client.wait_for("quote:update", where=lambda q: q["seq"] == 900)


# ---------------------------------------------------------------- snapshots


async def test_subscribe_portfolio_answers_with_the_users_portfolio(
    server: LiveServer, connect: Connect
) -> None:
    session_id = await server.login()
    await server.place_order(session_id, symbol="AAPL", side="buy", quantity=3)
    client = await connect(server, session_id)

    ack = await client.call("subscribe:portfolio")

    assert ack["ok"] is True
    portfolio = Portfolio.model_validate(ack["portfolio"])
    assert portfolio.user_id == 1
    assert [(p.symbol, p.quantity) for p in portfolio.positions] == [("AAPL", 3)]
    assert isinstance(ack["portfolio"]["cash"], str)  # decimals travel as strings
    assert portfolio.cash < 100_000


async def test_subscribe_trades_answers_with_the_newest_fifty(
    server: LiveServer, connect: Connect
) -> None:
    session_id = await server.login()
    for _ in range(52):
        await server.services.executor.place_order(
            1, OrderIn(symbol="MSFT", side="buy", quantity=1)
        )
    client = await connect(server, session_id)

    ack = await client.call("subscribe:trades")

    assert ack["ok"] is True
    trades = [TradeOut.model_validate(t) for t in ack["trades"]]
    assert len(trades) == 50
    ids = [t.trade_id for t in trades]
    assert ids == sorted(ids, reverse=True) and ids[0] == 52
    assert set(ack["trades"][0]) == {
        "tradeId",
        "orderId",
        "symbol",
        "side",
        "quantity",
        "price",
        "total",
        "executedAt",
    }


async def test_a_user_sees_only_their_own_snapshots(server: LiveServer, connect: Connect) -> None:
    demo = await server.login()
    await server.place_order(demo, symbol="AAPL", side="buy", quantity=1)
    bob = await connect(server, await server.register("bob"))

    assert (await bob.call("subscribe:trades"))["trades"] == []
    assert (await bob.call("subscribe:portfolio"))["portfolio"]["positions"] == []


# ---------------------------------------------------------------- watchlist


async def test_subscribe_watchlist_answers_with_the_latest_quotes_and_then_pushes(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())

    ack = await client.call("subscribe:watchlist", {"symbols": ["msft", "AAPL", "MSFT"]})

    assert ack["ok"] is True
    assert [q["symbol"] for q in ack["quotes"]] == ["MSFT", "AAPL"]  # order kept, no repeats
    assert all(Quote.model_validate(q).seq == 1 for q in ack["quotes"])
    await publish(quiet_server, quote("NVDA", seq=5), quote("AAPL", seq=5))
    [pushed] = await client.wait_for("quote:update")
    assert pushed["symbol"] == "AAPL" and pushed["seq"] == 5


async def test_a_subscription_sent_without_an_ack_still_takes_effect(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    realtime = quiet_server.services.realtime
    assert realtime is not None
    await client.sio.emit("subscribe:watchlist", {"symbols": ["AAPL"]})
    await wait_until(
        lambda: realtime.sockets[client.sio.get_sid()].symbols == {"AAPL"},
        timeout=WAIT,
        what="the server to record the subscription",
    )
    await publish(quiet_server, quote("AAPL", seq=2))
    await client.wait_for("quote:update")


async def test_unsubscribe_stops_the_pushes_of_those_symbols_only(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT", "NVDA"]})

    ack = await client.call("unsubscribe:watchlist", {"symbols": ["NVDA", "AAPL", "TSLA"]})

    assert ack == {"ok": True, "symbols": ["MSFT"]}  # what is still watched; TSLA was not
    await publish(quiet_server, quote("AAPL", seq=2), quote("NVDA", seq=2), quote("MSFT", seq=2))
    await client.wait_for("quote:update", where=lambda q: q["symbol"] == "MSFT")
    assert [q["symbol"] for q in client.of("quote:update")] == ["MSFT"]


# ---------------------------------------------------------------- errors

INVALID_WATCHLIST_PAYLOADS = {
    "no payload": None,
    "not an object": "AAPL",
    "a list": ["AAPL"],
    "symbols missing": {},
    "symbols not a list": {"symbols": "AAPL"},
    "symbols of the wrong type": {"symbols": [1, 2]},
    "symbols null": {"symbols": None},
    "no symbols": {"symbols": []},
    "51 symbols": {"symbols": [UNIVERSE[i % 50].symbol for i in range(51)]},
    "a huge list": {"symbols": ["AAPL"] * 5000},
    "not a ticker": {"symbols": ["AAPL; DROP TABLE"]},
    "a ticker too long": {"symbols": ["ABCDEFGHIJK"]},
    "batch not a boolean": {"symbols": ["AAPL"], "batch": "sometimes"},
    "an unknown field": {"symbols": ["AAPL"], "room": "user:2"},
}


@pytest.mark.parametrize("event", ["subscribe:watchlist", "unsubscribe:watchlist"])
async def test_a_malformed_watchlist_payload_is_a_validation_error_and_nothing_else(
    quiet_server: LiveServer, connect: Connect, event: str
) -> None:
    client = await connect(quiet_server, await quiet_server.login())

    for name, payload in INVALID_WATCHLIST_PAYLOADS.items():
        ack = await client.call(event, payload)
        assert error_code(ack) == "VALIDATION_ERROR", name
        assert len(ack["error"]["message"]) < 500, name  # says what is wrong, echoes no input

    assert quiet_server.services.realtime.sockets[client.sio.get_sid()].symbols == set()  # type: ignore[union-attr]
    await still_served(quiet_server, client)


async def test_the_validation_message_names_the_field_and_the_problem(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    ack = await client.call("subscribe:watchlist", {"symbols": ["AAPL"] * 51})
    assert (
        ack["error"]["message"] == "symbols: List should have at most 50 items after "
        "validation, not 51"
    )


async def test_an_unknown_symbol_refuses_the_whole_subscription(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    not_traded_here = UNIVERSE[70].symbol  # a real ticker, beyond this server's 60

    ack = await client.call("subscribe:watchlist", {"symbols": ["AAPL", "ZZZZ", not_traded_here]})

    assert error_code(ack) == "UNKNOWN_SYMBOL"
    assert ack["error"]["symbols"] == ["ZZZZ", not_traded_here]
    assert "ZZZZ" in ack["error"]["message"]
    # nothing was subscribed, not even the known symbol
    assert (await client.call("unsubscribe:watchlist", {"symbols": ["AAPL"]}))["symbols"] == []
    await still_served(quiet_server, client)


async def test_a_socket_watches_at_most_fifty_symbols(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login())
    fifty = [s.symbol for s in UNIVERSE[:50]]
    more = [s.symbol for s in UNIVERSE[50:52]]
    assert (await client.call("subscribe:watchlist", {"symbols": fifty}))["ok"]

    ack = await client.call("subscribe:watchlist", {"symbols": more[:1]})

    assert error_code(ack) == "LIMIT_EXCEEDED"
    assert "50" in ack["error"]["message"]
    # symbols already watched do not count twice
    assert (await client.call("subscribe:watchlist", {"symbols": fifty[:10]}))["ok"]
    # and room is made by unsubscribing
    await client.call("unsubscribe:watchlist", {"symbols": fifty[:1]})
    assert (await client.call("subscribe:watchlist", {"symbols": more[:1]}))["ok"]
    assert (
        error_code(await client.call("subscribe:watchlist", {"symbols": more[1:]}))
        == "LIMIT_EXCEEDED"
    )
    await publish(quiet_server, quote(more[0], seq=2))
    await client.wait_for("quote:update", where=lambda q: q["symbol"] == more[0])


async def test_the_limit_is_per_socket_not_per_user(
    quiet_server: LiveServer, connect: Connect
) -> None:
    session_id = await quiet_server.login()
    first = await connect(quiet_server, session_id)
    second = await connect(quiet_server, session_id)
    fifty = [s.symbol for s in UNIVERSE[:50]]
    assert (await first.call("subscribe:watchlist", {"symbols": fifty}))["ok"]
    assert (await second.call("subscribe:watchlist", {"symbols": fifty}))["ok"]


async def test_an_unknown_event_is_answered_and_counted_under_one_label(
    server: LiveServer, connect: Connect
) -> None:
    client = await connect(server, await server.login())
    before = metric("tradewire_socket_events_received_total", event="*")

    for name in ("subscribe:everything", "trade:executed", "x" * 300):
        assert error_code(await client.call(name, {"any": "thing"})) == "UNKNOWN_EVENT"

    assert metric("tradewire_socket_events_received_total", event="*") == before + 3
    assert metric("tradewire_socket_events_received_total", event="x" * 300) == 0
    assert (await client.call("subscribe:portfolio"))["ok"]


async def test_a_handler_that_fails_answers_internal_and_logs_it(
    server: LiveServer,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await connect(server, await server.login())

    async def broken(user_id: int) -> Portfolio:
        raise RuntimeError("database on fire: secret detail")

    monkeypatch.setattr(server.services.executor, "portfolio", broken)
    with caplog.at_level(logging.ERROR, logger="tradewire.realtime"):
        ack = await client.call("subscribe:portfolio")

    assert error_code(ack) == "INTERNAL"
    assert "secret" not in ack["error"]["message"]
    [record] = [r for r in caplog.records if r.getMessage() == "event handler failed"]
    assert record.event == "subscribe:portfolio" and record.user_id == 1  # type: ignore[attr-defined]
    assert record.exc_info is not None
    monkeypatch.undo()
    assert (await client.call("subscribe:portfolio"))["ok"]


async def test_known_events_are_counted_by_name(server: LiveServer, connect: Connect) -> None:
    client = await connect(server, await server.login())
    before = metric("tradewire_socket_events_received_total", event="subscribe:trades")
    await client.call("subscribe:trades")
    await client.call("subscribe:trades")
    assert metric("tradewire_socket_events_received_total", event="subscribe:trades") == before + 2
