"""Two real users on one real server: neither ever receives the other's pushes, subscribes to
the other's streams, or sees or cancels the other's orders."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realtime.conftest import Connect
from tests.support import LiveServer

ORDER = {"symbol": "AAPL", "side": "buy", "quantity": 1}


async def test_pushes_reach_only_their_user(server: LiveServer, connect: Connect) -> None:
    alice_sid = await server.login()  # demo, user 1
    bob_sid = await server.register("bob")
    alice = await connect(server, alice_sid)
    bob = await connect(server, bob_sid)

    filled = await server.place_order(alice_sid, **ORDER)
    refused = await server.place_order(alice_sid, symbol="AAPL", side="sell", quantity=500)
    assert (filled["status"], refused["status"]) == ("filled", "rejected")
    await alice.wait_for("trade:failed")
    # Bob's own fill comes after Alice's pushes on the same bus: had any of hers reached his
    # socket, it would be there before his own.
    mine = await server.place_order(bob_sid, **ORDER)
    await bob.wait_for("trade:executed")
    await bob.wait_for("portfolio:update")
    assert [t["orderId"] for t in bob.of("trade:executed")] == [mine["orderId"]]
    assert {p["userId"] for p in bob.of("portfolio:update")} == {2}
    assert bob.of("trade:failed") == []
    assert [t["orderId"] for t in alice.of("trade:executed")] == [filled["orderId"]]
    assert {p["userId"] for p in alice.of("portfolio:update")} == {1}
    assert [f["order"]["orderId"] for f in alice.of("trade:failed")] == [refused["orderId"]]


@pytest.mark.parametrize("event", ["subscribe:portfolio", "subscribe:trades", "subscribe:ops"])
@pytest.mark.parametrize("payload", [{"userId": 1}, {"sessionId": "x"}, 1, "1", [1], True])
async def test_events_without_payload_refuse_one(
    server: LiveServer, connect: Connect, event: str, payload: Any
) -> None:
    """Nothing a client sends can name another user's stream: these events take no payload."""
    bob = await connect(server, await server.register("bob"))
    ack = await bob.call(event, payload)
    assert ack == {
        "ok": False,
        "error": {"code": "VALIDATION_ERROR", "message": "payload: this event takes no payload"},
    }


async def test_snapshots_are_the_sockets_own_user(server: LiveServer, connect: Connect) -> None:
    alice_sid = await server.login()
    await server.place_order(alice_sid, **ORDER)
    bob = await connect(server, await server.register("bob"))
    portfolio = await bob.call("subscribe:portfolio")
    assert portfolio["ok"] and portfolio["portfolio"]["userId"] == 2
    assert portfolio["portfolio"]["positions"] == []
    assert (await bob.call("subscribe:trades", {})) == {"ok": True, "trades": []}


@pytest.mark.parametrize("batch", ["yes", "true", 1, 0, None, [True]])
async def test_batch_must_be_a_boolean(server: LiveServer, connect: Connect, batch: Any) -> None:
    bob = await connect(server, await server.register("bob"))
    ack = await bob.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": batch})
    assert ack["ok"] is False and ack["error"]["code"] == "VALIDATION_ERROR"
    assert ack["error"]["message"].startswith("batch:")
    assert (await bob.call("unsubscribe:watchlist", {"symbols": ["AAPL"]}))["symbols"] == []


async def test_another_users_order_is_404(server: LiveServer) -> None:
    alice_sid = await server.login()
    order = await server.place_order(
        alice_sid, symbol="AAPL", side="buy", quantity=1, type="limit", limitPrice="1.00"
    )
    assert order["status"] == "open"
    async with server.http(await server.register("bob")) as http:
        for method in ("GET", "DELETE"):
            r = await http.request(method, f"/api/orders/{order['orderId']}")
            assert r.status_code == 404 and r.json()["error"]["code"] == "ORDER_NOT_FOUND"
    async with server.http(alice_sid) as http:
        assert (await http.get(f"/api/orders/{order['orderId']}")).json()["status"] == "open"
