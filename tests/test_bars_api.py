"""`GET /api/quotes/{symbol}/bars` against a live service: on one process, and on two instances
sharing one Redis (the feed's instance writes each tick once; every instance answers the same)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.harness.waiting import wait_until
from tests.support import LiveServer

WAIT = 15.0


async def bars_and_quote(http: httpx.AsyncClient, symbol: str) -> tuple[dict[str, Any], Any]:
    bars = await http.get(f"/api/quotes/{symbol}/bars", params={"limit": 480})
    assert bars.status_code == 200, bars.text
    [quote] = (await http.get("/api/quotes", params={"symbols": symbol})).json()
    return bars.json(), quote


def agrees_with(body: dict[str, Any], quote: dict[str, Any]) -> bool:
    """Every tick so far is in the bars once: a source's first quote (seq 1) is its opening
    quote, not a tick, so the ticks number seq - 1; the newest bar closes at the latest price."""
    bars = body["bars"]
    return (
        bool(bars)
        and sum(b["volume"] for b in bars) == quote["seq"] - 1
        and bars[-1]["close"] == quote["last"]
    )


async def test_bars_follow_the_feed_exactly(server: LiveServer) -> None:
    async with server.http() as http:
        found: list[dict[str, Any]] = []

        async def caught_up() -> bool:
            body, quote = await bars_and_quote(http, "AAPL")
            found[:] = [body]
            return quote["seq"] > 3 and agrees_with(body, quote)

        await wait_until(caught_up, timeout=WAIT, what="AAPL's bars to hold every tick once")
        body = found[0]
        assert body["symbol"] == "AAPL" and body["interval"] == "1m"
        times = [b["time"] for b in body["bars"]]
        assert times == sorted(set(times)) and all(t % 60 == 0 for t in times)
        for b in body["bars"]:
            assert set(b) == {"time", "open", "high", "low", "close", "volume"}
            o, h, low, c = (Decimal(b[k]) for k in ("open", "high", "low", "close"))
            assert low <= min(o, c) and max(o, c) <= h and b["volume"] >= 1
            assert all(isinstance(b[k], str) for k in ("open", "high", "low", "close"))


async def test_limit_interval_and_symbol_are_checked(server: LiveServer) -> None:
    async with server.http() as http:
        await wait_until(
            lambda: server.services.bars.recent("MSFT", 1), timeout=WAIT, what="an MSFT bar"
        )
        one = await http.get("/api/quotes/msft/bars", params={"limit": 1, "interval": "1m"})
        assert one.status_code == 200 and one.json()["symbol"] == "MSFT"
        assert len(one.json()["bars"]) == 1
        assert (await http.get("/api/quotes/MSFT/bars", params={"limit": 480})).status_code == 200
        for params in ({"limit": 0}, {"limit": 481}, {"limit": "many"}, {"interval": "5m"}):
            r = await http.get("/api/quotes/MSFT/bars", params=params)
            assert r.status_code == 422, params
            assert r.json()["error"]["code"] == "VALIDATION_ERROR", params
            assert set(r.json()["error"]) == {"code", "message"}
        for symbol in ("NOPE", "$$$"):
            r = await http.get(f"/api/quotes/{symbol}/bars")
            assert r.status_code == 404, symbol
            assert r.json()["error"]["code"] == "UNKNOWN_SYMBOL"


async def test_bars_are_public_market_data_like_quotes(server: LiveServer) -> None:
    """No session needed, as for `/api/quotes`; a session changes nothing."""
    session = await server.login()
    async with server.http() as anonymous, server.http(session) as logged_in:
        for http in (anonymous, logged_in):
            for path in ("/api/quotes?symbols=AAPL", "/api/quotes/AAPL/bars"):
                assert (await http.get(path)).status_code == 200, path
        assert (await anonymous.get("/api/portfolio")).status_code == 401


@pytest.fixture
async def two_instances(tmp_path: Path, redis_url: str) -> AsyncIterator[list[LiveServer]]:
    """Two instances on one Redis (each with its own SQLite: bars do not touch the database)."""
    made: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            settings = make_settings(
                tmp_path / name, redis_url=redis_url, realtime_enabled=False, seed_demo=False
            )
            made.append(await LiveServer(settings).__aenter__())
        yield made
    finally:
        for live in made:
            await live.stop()
            # the rate-limit storage's Redis client outlives Services.stop()
            await live.services.limiter.storage.bridge.storage.aclose()  # type: ignore[attr-defined]


async def test_two_instances_serve_the_same_bars_written_once(
    two_instances: list[LiveServer],
) -> None:
    a, b = two_instances
    assert [a.services.feed.running, b.services.feed.running].count(True) == 1
    async with a.http() as on_a, b.http() as on_b:

        async def same_and_complete() -> bool:
            body_a, quote = await bars_and_quote(on_a, "AAPL")
            body_b, _ = await bars_and_quote(on_b, "AAPL")
            return quote["seq"] > 3 and body_a == body_b and agrees_with(body_b, quote)

        await wait_until(
            same_and_complete,
            timeout=WAIT,
            what="both instances to answer the same AAPL bars, each tick counted once",
        )
