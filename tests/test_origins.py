"""Which browser origins may use the service: CORS on REST, the CSRF check on cookie-authenticated
writes (api/csrf.py), and the Origin check of the Socket.IO handshake (realtime/engine.py).

Default: same-origin only (the service's own address, or the request's own Host). `CORS_ORIGINS`
adds origins; the Vite dev server's origins are not allowed unless listed there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import socketio

from tests.conftest import make_settings
from tests.realtime.clients import Client
from tests.support import DEMO, LiveServer
from tradewire.api.csrf import origin_allowed
from tradewire.settings import Settings

EVIL = "https://evil.example"
APP = "https://app.example.com"
VITE = "http://127.0.0.1:5173"
ORDER = {"symbol": "AAPL", "side": "buy", "quantity": 1}


@pytest.fixture
async def listed(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """A server with `CORS_ORIGINS=https://app.example.com`."""
    async with LiveServer(make_settings(tmp_path, cors_origins=APP)) as live:
        yield live


@asynccontextmanager
async def cookie_client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in by cookie only (as the dashboard is), no bearer header."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        r = await http.post("/api/auth/login", json=DEMO)
        assert r.status_code == 200 and "tw_session" in http.cookies
        yield http


def test_dev_origins_are_not_allowed_by_default(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, port=8000)
    assert settings.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    dev = Settings(_env_file=None, cors_origins=f"{VITE}, http://localhost:5173")
    assert {VITE, "http://localhost:5173"} <= set(dev.allowed_origins)


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://trade.example.com", "trade.example.com", True),
        (APP, "trade.example.com", True),  # listed
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),  # another port
        ("https://evil.trade.example.com", "trade.example.com", False),
        ("https://trade.example.com.evil.example", "trade.example.com", False),
        ("null", "trade.example.com", False),
        ("", "", False),
    ],
)
def test_origin_allowed(origin: str, host: str, allowed: bool) -> None:
    assert origin_allowed(origin, host, [APP]) is allowed


# ---------------------------------------------------------------- CORS


@pytest.mark.parametrize("origin", [EVIL, VITE])
async def test_rest_sends_no_cors_headers_to_other_origins(server: LiveServer, origin: str) -> None:
    async with server.http() as http:
        preflight = await http.options(
            "/api/orders",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        simple = await http.get("/api/symbols", headers={"Origin": origin})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


async def test_listed_origins_get_cors_with_credentials(listed: LiveServer) -> None:
    async with listed.http() as http:
        preflight = await http.options(
            "/api/orders",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,idempotency-key",
            },
        )
        simple = await http.get("/api/symbols", headers={"Origin": APP})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert simple.headers["access-control-allow-origin"] == APP


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/page"}, {}, {"Origin": VITE}],
    ids=["evil origin", "null origin", "evil referer", "no origin", "vite origin"],
)
async def test_cookie_writes_from_other_origins_are_refused(
    server: LiveServer, headers: dict[str, str]
) -> None:
    async with cookie_client(server) as http:
        r = await http.post("/api/orders", json=ORDER, headers=headers)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "CSRF_ORIGIN_MISMATCH"
        assert "access-control-allow-origin" not in r.headers
        r = await http.post("/api/auth/logout", headers=headers)
        assert r.status_code == 403
        # nothing happened: no order, and the session still works
        assert (await http.get("/api/orders")).json() == []
        assert (await http.get("/api/me")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "same"}, {"Referer": "same/trade/AAPL"}],
    ids=["same origin", "same-origin referer"],
)
async def test_cookie_writes_from_the_service_itself_pass(
    server: LiveServer, headers: dict[str, str]
) -> None:
    headers = {k: v.replace("same", server.url) for k, v in headers.items()}
    async with cookie_client(server) as http:
        r = await http.post("/api/orders", json=ORDER, headers=headers)
        assert r.status_code == 201, r.text
        assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204


async def test_a_listed_origin_may_write_with_the_cookie(listed: LiveServer) -> None:
    async with cookie_client(listed) as http:
        allowed = await http.post("/api/orders", json=ORDER, headers={"Origin": APP})
        refused = await http.post("/api/orders", json=ORDER, headers={"Origin": EVIL})
    assert (allowed.status_code, refused.status_code) == (201, 403)


async def test_bearer_requests_are_not_subject_to_the_origin_check(server: LiveServer) -> None:
    """A page elsewhere cannot make a browser add Authorization, so the header is proof enough;
    it wins over a cookie sent along with it."""
    session_id = await server.login()
    async with cookie_client(server) as http:
        bearer = {"Authorization": f"Bearer {session_id}", "Origin": EVIL}
        r = await http.post("/api/orders", json=ORDER, headers=bearer)
        assert r.status_code == 201, r.text


async def test_reads_with_the_cookie_need_no_origin(server: LiveServer) -> None:
    async with cookie_client(server) as http:
        assert (await http.get("/api/portfolio", headers={"Origin": EVIL})).status_code == 200


# ---------------------------------------------------------------- the Socket.IO handshake


@pytest.mark.parametrize("origin", [EVIL, VITE])
async def test_socketio_handshake_from_another_origin_is_403(
    server: LiveServer, origin: str
) -> None:
    session_id = await server.login()
    async with server.http() as http:
        r = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": origin}
        )
    assert r.status_code == 403
    assert r.json() == {"code": 4, "message": "Forbidden"}
    assert "access-control-allow-origin" not in r.headers
    for transport in ("websocket", "polling"):
        async with Client() as client:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(
                    server.url, session_id, transports=[transport], headers={"Origin": origin}
                )
            assert not client.sio.connected
    assert server.services.realtime is not None and server.services.realtime.sockets == {}


async def test_socketio_handshake_from_allowed_origins_connects(listed: LiveServer) -> None:
    session_id = await listed.login()
    for origin in (APP, listed.url):
        for transport in ("websocket", "polling"):
            async with Client() as client:
                await client.connect(
                    listed.url, session_id, transports=[transport], headers={"Origin": origin}
                )
                assert (await client.call("subscribe:portfolio"))["ok"] is True
