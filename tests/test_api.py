"""REST behaviour around the edges: errors, market data, watchlist, health, the dashboard."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.support import LiveServer


async def test_errors_are_json_with_a_code(server: LiveServer) -> None:
    sid = await server.login()
    async with server.http(sid) as http:
        cases = {
            ("GET", "/api/nope"): (404, "NOT_FOUND"),
            ("DELETE", "/api/portfolio"): (405, "METHOD_NOT_ALLOWED"),
            ("GET", "/api/orders?limit=0"): (422, "VALIDATION_ERROR"),
            ("GET", "/api/trades/abc"): (422, "VALIDATION_ERROR"),
            ("GET", "/api/trades/99999999999"): (422, "VALIDATION_ERROR"),
            ("GET", "/api/orders?status=bogus"): (422, "VALIDATION_ERROR"),
        }
        for (method, path), (status, code) in cases.items():
            r = await http.request(method, path)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), path
            assert set(r.json()["error"]) == {"code", "message"}
        for body in (
            b"{not json",
            b"[]",
            b'{"symbol": "AAPL"}',
            b'{"symbol": "AAPL", "side": "buy", "quantity": 1.5}',
            b'{"symbol": "AAPL", "side": "hold", "quantity": 1}',
            b'{"symbol": "$$$", "side": "buy", "quantity": 1}',
            b'{"symbol": "AAPL", "side": "buy", "quantity": 1, "extra": 1}',
            b'{"symbol": "AAPL", "side": "buy", "quantity": 1e400}',
        ):
            r = await http.post(
                "/api/orders", content=body, headers={"content-type": "application/json"}
            )
            assert r.status_code == 422, body
            assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    async with server.http() as http:
        r = await http.post("/api/orders", json={"symbol": "AAPL", "side": "buy", "quantity": 1})
        assert r.status_code == 401


async def test_symbols_and_quotes(server: LiveServer) -> None:
    async with server.http() as http:
        symbols = (await http.get("/api/symbols")).json()
        assert len(symbols) == 50 and {"symbol": "AAPL", "name": "Apple Inc."} in symbols
        quotes = (await http.get("/api/quotes", params={"symbols": "msft, AAPL,MSFT"})).json()
        assert [q["symbol"] for q in quotes] == ["MSFT", "AAPL"]
        q = quotes[1]
        assert set(q) == {
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
        assert float(q["bid"]) < float(q["ask"]) and isinstance(q["ts"], int)
        assert len((await http.get("/api/quotes")).json()) == 50
        bad = await http.get("/api/quotes", params={"symbols": "AAPL,NOPE"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "UNKNOWN_SYMBOL"
        assert (await http.get("/api/quotes", params={"symbols": ","})).status_code == 422
        many = ",".join(["AAPL"] * 10 + [f"S{i}" for i in range(101)])
        assert (await http.get("/api/quotes", params={"symbols": many})).status_code == 422


async def test_watchlist_roundtrip(server: LiveServer) -> None:
    sid = await server.login()
    async with server.http(sid) as http:
        assert (await http.get("/api/watchlist")).json()["symbols"][:2] == ["AAPL", "MSFT"]
        r = await http.put("/api/watchlist", json={"symbols": ["tsla", "AAPL", "TSLA"]})
        assert r.json() == {"symbols": ["TSLA", "AAPL"]}
        assert (await http.get("/api/watchlist")).json() == {"symbols": ["TSLA", "AAPL"]}
        r = await http.put("/api/watchlist", json={"symbols": ["NOPE"]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "UNKNOWN_SYMBOL"
        r = await http.put("/api/watchlist", json={"symbols": ["AAPL"] * 51})
        assert r.status_code == 422
        assert (await http.get("/api/watchlist")).json() == {"symbols": ["TSLA", "AAPL"]}


async def test_health_config_and_openapi(server: LiveServer) -> None:
    async with server.http() as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
        assert (await http.get("/api/config")).json() == {
            "realtimeEnabled": True,
            "socketPath": "/socket.io",
            "maxWatchlistSymbols": 50,
        }
        spec = (await http.get("/openapi.json")).json()
        assert "/api/orders" in spec["paths"]


async def test_readiness_answers_503_when_a_check_fails(server: LiveServer) -> None:
    original = server.services.db.ping

    async def broken() -> bool:
        return False

    server.services.db.ping = broken  # type: ignore[method-assign]
    try:
        async with server.http() as http:
            r = await http.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "not ready"
    finally:
        server.services.db.ping = original  # type: ignore[method-assign]


async def test_realtime_can_be_switched_off(tmp_path: Path) -> None:
    """Off at start: REST works, the config says so; the Socket.IO endpoint stays (so an
    administrator can turn it on at run time) and refuses its handshakes
    (tests/realtime/test_rollout.py)."""
    async with LiveServer(make_settings(tmp_path, realtime_enabled=False)) as live:
        sid = await live.login()
        for session in (None, sid):
            async with live.http(session) as http:
                assert (await http.get("/api/config")).json()["realtimeEnabled"] is False
        assert (await live.place_order(sid, symbol="AAPL", side="buy", quantity=1))[
            "status"
        ] == "filled"


async def test_dashboard_is_served_with_spa_fallback(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>tradewire</title>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (dist / "favicon.svg").write_text("<svg/>")
    async with LiveServer(make_settings(tmp_path, dashboard_dir=dist)) as live, live.http() as http:
        for path in ("/", "/trades/12", "/login"):
            r = await http.get(path)
            assert r.status_code == 200 and "<title>tradewire" in r.text, path
        assert (await http.get("/assets/app.js")).text == "console.log(1)"
        assert (await http.get("/favicon.svg")).text == "<svg/>"
        assert (await http.get("/../../etc/passwd")).status_code in (200, 404)
        assert "root:" not in (await http.get("/..%2f..%2fetc/passwd")).text


async def test_missing_dashboard_says_how_to_build_it(server: LiveServer) -> None:
    async with server.http() as http:
        r = await http.get("/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "DASHBOARD_NOT_BUILT"


async def test_a_new_account_starts_with_the_first_traded_symbols_watched(
    server: LiveServer,
) -> None:
    session = await server.register("newcomer")
    async with server.http(session) as http:
        traded = [s["symbol"] for s in (await http.get("/api/symbols")).json()]
        watched = (await http.get("/api/watchlist")).json()["symbols"]
    assert watched == traded[:6] == ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META"]


async def test_the_default_watchlist_holds_only_symbols_traded_here(tmp_path: Path) -> None:
    async with LiveServer(make_settings(tmp_path, market_symbols="KO,PEP")) as live:
        session = await live.register("narrow")
        async with live.http(session) as http:
            assert (await http.get("/api/watchlist")).json() == {"symbols": ["KO", "PEP"]}
