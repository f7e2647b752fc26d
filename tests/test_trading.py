"""The trading core through the REST API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from tests.support import LiveServer
from tradewire.schemas import Quote


async def crossing_quote(live: LiveServer, symbol: str, price: str) -> Quote:
    """Make `symbol` trade at `price` (bid and ask 1 cent around it), as a feed tick would."""
    current = await live.services.quotes.latest(symbol)
    assert current is not None
    p = Decimal(price)
    quote = current.model_copy(
        update={
            "bid": p - Decimal("0.01"),
            "ask": p + Decimal("0.01"),
            "last": p,
            "seq": current.seq + 1000,
        }
    )
    await live.services.quotes.put(quote)
    live.services.feed.emit("quote", quote)
    return quote


async def portfolio(live: LiveServer, sid: str) -> dict[str, Any]:
    async with live.http(sid) as http:
        return (await http.get("/api/portfolio")).json()  # type: ignore[no-any-return]


async def test_market_buy_then_sell(db_server: LiveServer) -> None:
    sid = await db_server.login()
    before = await portfolio(db_server, sid)
    assert before["cash"] == "100000.00" and before["positions"] == []

    buy = await db_server.place_order(sid, symbol="aapl", side="buy", quantity=10)
    assert buy["status"] == "filled" and buy["symbol"] == "AAPL"
    quote = await db_server.services.quotes.latest("AAPL")
    assert quote is not None
    after = await portfolio(db_server, sid)
    cost = Decimal(buy["fillPrice"]) * 10
    assert Decimal(after["cash"]) == Decimal("100000.00") - cost
    [pos] = after["positions"]
    assert pos["symbol"] == "AAPL" and pos["quantity"] == 10
    assert Decimal(pos["avgCost"]) == Decimal(buy["fillPrice"])

    sell = await db_server.place_order(sid, symbol="AAPL", side="sell", quantity=10)
    assert sell["status"] == "filled"
    final = await portfolio(db_server, sid)
    assert final["positions"] == []
    proceeds = Decimal(sell["fillPrice"]) * 10
    assert Decimal(final["cash"]) == Decimal("100000.00") - cost + proceeds

    async with db_server.http(sid) as http:
        trades = (await http.get("/api/trades")).json()
        assert [t["side"] for t in trades] == ["sell", "buy"]  # newest first
        one = (await http.get(f"/api/trades/{trades[1]['tradeId']}")).json()
        assert one == trades[1]
        assert Decimal(one["total"]) == cost


async def test_average_cost_over_two_buys(server: LiveServer) -> None:
    sid = await server.login()
    await crossing_quote(server, "MSFT", "100.00")
    await server.place_order(sid, symbol="MSFT", side="buy", quantity=1)  # at 100.01
    await crossing_quote(server, "MSFT", "200.00")
    await server.place_order(sid, symbol="MSFT", side="buy", quantity=3)  # at 200.01
    [pos] = (await portfolio(server, sid))["positions"]
    assert pos["quantity"] == 4
    assert Decimal(pos["avgCost"]) == Decimal("175.0100")
    assert pos["last"] == "200.00"
    assert Decimal(pos["unrealizedPnl"]) == (Decimal("200.00") - Decimal("175.01")) * 4


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        ({"symbol": "AAPL", "side": "buy", "quantity": 10_000}, "INSUFFICIENT_CASH"),
        ({"symbol": "AAPL", "side": "sell", "quantity": 1}, "INSUFFICIENT_SHARES"),
        (
            {"symbol": "AAPL", "side": "sell", "quantity": 5, "type": "limit", "limitPrice": "999"},
            "INSUFFICIENT_SHARES",
        ),
        (
            {
                "symbol": "AAPL",
                "side": "buy",
                "quantity": 900,
                "type": "limit",
                "limitPrice": "150",
            },
            "INSUFFICIENT_CASH",
        ),
    ],
)
async def test_rejections_are_recorded_with_a_reason(
    server: LiveServer, order: dict[str, Any], reason: str
) -> None:
    sid = await server.login()
    result = await server.place_order(sid, **order)
    assert result["status"] == "rejected"
    assert result["rejectReason"] == reason
    async with server.http(sid) as http:
        recorded = (await http.get("/api/orders", params={"status": "rejected"})).json()
    assert [o["orderId"] for o in recorded] == [result["orderId"]]
    assert (await portfolio(server, sid))["cash"] == "100000.00"


BUY = {"symbol": "AAPL", "side": "buy"}
LIMIT_BUY = {**BUY, "quantity": 1, "type": "limit"}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({**BUY, "quantity": 0}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": -5}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": 1.5}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": 1.0}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": 1_000_001}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": 10**30}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": True}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": "5"}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": None}, "VALIDATION_ERROR", "quantity"),
        ({**BUY, "quantity": [1]}, "VALIDATION_ERROR", "quantity"),
        ({"side": "buy", "quantity": 1}, "VALIDATION_ERROR", "symbol"),
        ({**BUY, "symbol": 5, "quantity": 1}, "VALIDATION_ERROR", "symbol"),
        ({**BUY, "side": "hold", "quantity": 1}, "VALIDATION_ERROR", "side"),
        ({**BUY, "quantity": 1, "extra": 1}, "VALIDATION_ERROR", "extra"),
        ({**BUY, "symbol": "ZZZZ", "quantity": 1}, "UNKNOWN_SYMBOL", "ZZZZ"),
        (LIMIT_BUY, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "0"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "-1.00"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "1.001"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "NaN"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "Infinity"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "1000000.01"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": "cheap"}, "VALIDATION_ERROR", "limitPrice"),
        ({**LIMIT_BUY, "limitPrice": True}, "VALIDATION_ERROR", "limitPrice"),
        ({**BUY, "quantity": 1, "limitPrice": "10.00"}, "VALIDATION_ERROR", "limitPrice"),
    ],
)
async def test_invalid_orders_are_422_and_record_nothing(
    server: LiveServer, body: dict[str, Any], code: str, field: str
) -> None:
    sid = await server.login()
    async with server.http(sid) as http:
        r = await http.post("/api/orders", json=body)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == code and field in error["message"]
        assert (await http.get("/api/orders")).json() == []
    assert (await portfolio(server, sid))["cash"] == "100000.00"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"symbol": "AAPL", "side": "buy", "quantity": NaN}',
        b'{"symbol": "AAPL", "side": "buy", "quantity": Infinity}',
        b'{"symbol": "AAPL", "side": "buy", "quantity": 1e400}',
        b'{"symbol": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limitPrice": NaN}',
        b'{"symbol": "AAPL", "side": "buy", "quantity": 1, "type": "limit", '
        b'"limitPrice": -Infinity}',
        b'{"symbol": "AAPL", "side": "buy", "quantity": 1',
        b'["AAPL", "buy", 1]',
        b"quantity=1",
        b"",
    ],
)
async def test_malformed_order_bodies_are_422(server: LiveServer, raw: bytes) -> None:
    sid = await server.login()
    async with server.http(sid) as http:
        r = await http.post(
            "/api/orders", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert (await http.get("/api/orders")).json() == []


async def test_limit_prices_are_decimal_strings_or_json_numbers(server: LiveServer) -> None:
    """Both forms are one price: `"90.10"`, `90.1` (a JSON number) and `9.01e1`."""
    sid = await server.login()
    await crossing_quote(server, "NVDA", "100.00")
    prices = []
    for price in ("90.10", 90.1, 9.01e1):
        order = await server.place_order(
            sid, symbol="NVDA", side="buy", quantity=1, type="limit", limitPrice=price
        )
        assert order["status"] == "open"
        prices.append(order["limitPrice"])
    assert prices == ["90.10"] * 3


async def test_limit_order_rests_then_fills_when_the_quote_crosses(db_server: LiveServer) -> None:
    sid = await db_server.login()
    await crossing_quote(db_server, "NVDA", "100.00")
    order = await db_server.place_order(
        sid, symbol="NVDA", side="buy", quantity=5, type="limit", limitPrice="90.00"
    )
    assert order["status"] == "open" and order["limitPrice"] == "90.00"

    await crossing_quote(db_server, "NVDA", "95.00")  # ask 95.01: not yet
    async with db_server.http(sid) as http:
        assert [o["orderId"] for o in (await http.get("/api/orders?status=open")).json()] == [
            order["orderId"]
        ]

    trades_before = len(await db_server.services.executor.trades(1))
    await crossing_quote(db_server, "NVDA", "89.50")  # ask 89.51 <= 90.00: fills at 89.51

    async def filled() -> bool:
        return len(await db_server.services.executor.trades(1)) > trades_before

    from tests.harness.waiting import wait_until

    await wait_until(filled, timeout=10, what="the resting limit order to fill")
    await db_server.services.executor.drain()
    async with db_server.http(sid) as http:
        got = (await http.get("/api/orders")).json()[0]
    assert got["status"] == "filled" and got["fillPrice"] == "89.51"
    # a later crossing quote does not fill it again
    await crossing_quote(db_server, "NVDA", "80.00")
    await db_server.services.executor.drain()
    assert len(await db_server.services.executor.trades(1)) == trades_before + 1


async def test_a_resting_order_no_longer_covered_is_rejected_when_it_crosses(
    db_server: LiveServer,
) -> None:
    """Resting orders reserve nothing: a buy whose cash was spent meanwhile is rejected, with
    its reason and a `trade:failed`, when its quote crosses; it never fills afterwards."""
    sid = await db_server.login()
    executor = db_server.services.executor
    failed: list[Any] = []
    executor.on("trade:failed", lambda user_id, event: failed.append(event))
    await crossing_quote(db_server, "NVDA", "100.00")
    order = await db_server.place_order(
        sid, symbol="NVDA", side="buy", quantity=10, type="limit", limitPrice="90.00"
    )
    assert order["status"] == "open"
    spend = await db_server.place_order(sid, symbol="NVDA", side="buy", quantity=995)
    assert spend["status"] == "filled"  # 99,509.95 of the 100,000: 10 at 90 no longer fit

    await crossing_quote(db_server, "NVDA", "89.00")
    await executor.drain()
    async with db_server.http(sid) as http:
        got = (await http.get("/api/orders")).json()
    assert [(o["orderId"], o["status"], o["rejectReason"]) for o in got][1] == (
        order["orderId"], "rejected", "INSUFFICIENT_CASH"
    )  # fmt: skip
    assert [(e.order.order_id, e.reason) for e in failed] == [
        (order["orderId"], "INSUFFICIENT_CASH")
    ]
    await crossing_quote(db_server, "NVDA", "80.00")
    await executor.drain()
    assert len(await executor.trades(1)) == 1


async def test_an_order_whose_caller_is_cancelled_still_completes(
    db_server: LiveServer,
) -> None:
    """A request cancelled while its order's transaction runs (a client gone, a shutdown) does
    not leave a committed order half-done: the resting order still enters the book and fills
    on its quote."""
    from tradewire.schemas import OrderIn

    await crossing_quote(db_server, "AMZN", "100.00")
    executor = db_server.services.executor
    request = OrderIn.model_validate(
        {"symbol": "AMZN", "side": "buy", "quantity": 2, "type": "limit", "limitPrice": "90.00"}
    )
    caller = asyncio.ensure_future(executor.place_order(1, request))
    await asyncio.sleep(0)  # the order has started
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await executor.drain()

    await crossing_quote(db_server, "AMZN", "89.00")
    await executor.drain()
    [trade] = await executor.trades(1)
    assert (trade.symbol, trade.quantity, str(trade.price)) == ("AMZN", 2, "89.01")


async def test_limit_order_that_crosses_fills_at_once_at_the_quote(server: LiveServer) -> None:
    sid = await server.login()
    await crossing_quote(server, "TSLA", "200.00")
    order = await server.place_order(
        sid, symbol="TSLA", side="buy", quantity=1, type="limit", limitPrice="250.00"
    )
    assert order["status"] == "filled" and order["fillPrice"] == "200.01"


async def test_cancel_open_order(db_server: LiveServer) -> None:
    sid = await db_server.login()
    await crossing_quote(db_server, "AMZN", "100.00")
    order = await db_server.place_order(
        sid, symbol="AMZN", side="buy", quantity=1, type="limit", limitPrice="50.00"
    )
    async with db_server.http(sid) as http:
        r = await http.delete(f"/api/orders/{order['orderId']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        again = await http.delete(f"/api/orders/{order['orderId']}")
        assert again.status_code == 409 and again.json()["error"]["code"] == "ORDER_NOT_OPEN"
        assert (await http.delete("/api/orders/999999")).status_code == 404
    await crossing_quote(db_server, "AMZN", "10.00")  # would have crossed
    await db_server.services.executor.drain()
    assert await db_server.services.executor.trades(1) == []


async def test_other_users_orders_and_trades_are_invisible(server: LiveServer) -> None:
    demo = await server.login()
    other = await server.register("mallory")
    order = await server.place_order(demo, symbol="AAPL", side="buy", quantity=1)
    trade_id = (await server.services.executor.trades(1))[0].trade_id
    async with server.http(other) as http:
        assert (await http.get(f"/api/trades/{trade_id}")).status_code == 404
        assert (await http.delete(f"/api/orders/{order['orderId']}")).status_code == 404
        r = await http.get(f"/api/orders/{order['orderId']}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "ORDER_NOT_FOUND"
        assert (await http.get("/api/orders")).json() == []
    async with server.http(demo) as http:
        assert (await http.get(f"/api/orders/{order['orderId']}")).json() == order


async def test_idempotency_key_executes_once(db_server: LiveServer) -> None:
    sid = await db_server.login()
    headers = {"Idempotency-Key": "order-123"}
    async with db_server.http(sid) as http:
        first, *retries = await asyncio.gather(
            *[
                http.post(
                    "/api/orders",
                    json={"symbol": "META", "side": "buy", "quantity": 2},
                    headers=headers,
                )
                for _ in range(5)
            ]
        )
    assert {r.status_code for r in [first, *retries]} == {201}
    assert {r.json()["orderId"] for r in retries} == {first.json()["orderId"]}
    trades = await db_server.services.executor.trades(1)
    assert len(trades) == 1 and trades[0].quantity == 2


async def test_idempotency_key_with_another_body_is_refused(db_server: LiveServer) -> None:
    sid = await db_server.login()
    headers = {"Idempotency-Key": "order-456"}
    order = {"symbol": "META", "side": "buy", "quantity": 2}
    async with db_server.http(sid) as http:
        first = await http.post("/api/orders", json=order, headers=headers)
        assert first.status_code == 201
        other = await http.post("/api/orders", json={**order, "quantity": 3}, headers=headers)
        assert other.status_code == 422
        error = other.json()["error"]
        assert error["code"] == "IDEMPOTENCY_KEY_REUSED" and "Idempotency-Key" in error["message"]
        # the same order written differently (case, a default spelled out) is the same body
        same = {"symbol": "meta", "side": "buy", "quantity": 2, "type": "market"}
        again = await http.post("/api/orders", json=same, headers=headers)
        assert again.status_code == 201 and again.json() == first.json()
        assert len((await http.get("/api/orders")).json()) == 1
    trades = await db_server.services.executor.trades(1)
    assert len(trades) == 1 and trades[0].quantity == 2


async def test_concurrent_orders_never_overdraw_cash_or_shares(db_server: LiveServer) -> None:
    sid = await db_server.login()
    await crossing_quote(db_server, "JPM", "1000.00")  # ask 1000.01
    async with db_server.http(sid) as http:
        buys = await asyncio.gather(
            *[
                http.post("/api/orders", json={"symbol": "JPM", "side": "buy", "quantity": 12})
                for _ in range(50)
            ]
        )
    statuses = [r.json()["status"] for r in buys]
    # 12 shares cost 12,000.12; 100,000 buys 8 such lots and not a 9th
    assert statuses.count("filled") == 8
    assert statuses.count("rejected") == 42
    pf = await portfolio(db_server, sid)
    assert Decimal(pf["cash"]) == Decimal("100000.00") - 8 * Decimal("12000.12")
    assert Decimal(pf["cash"]) >= 0
    assert pf["positions"][0]["quantity"] == 96

    async with db_server.http(sid) as http:
        sells = await asyncio.gather(
            *[
                http.post("/api/orders", json={"symbol": "JPM", "side": "sell", "quantity": 10})
                for _ in range(50)
            ]
        )
    assert [r.json()["status"] for r in sells].count("filled") == 9  # 96 shares: 9 lots of 10
    pf = await portfolio(db_server, sid)
    assert pf["positions"][0]["quantity"] == 6
