"""The real `tradewire serve` process: what a newcomer does after `make run`."""

from __future__ import annotations

import time

import httpx

from tests.harness.process import ServiceProcess


def test_demo_user_trades_against_a_real_process() -> None:
    with ServiceProcess({"MARKET_SEED": "3"}) as service:
        # a browser's same-origin requests: the session cookie, and Origin on every write
        origin = {"Origin": service.url}
        with httpx.Client(base_url=service.url, timeout=10, headers=origin) as http:
            login = http.post(
                "/api/auth/login", json={"username": "demo", "password": "demo-password"}
            )
            assert login.status_code == 200
            order = http.post("/api/orders", json={"symbol": "AAPL", "side": "buy", "quantity": 3})
            assert order.status_code == 201 and order.json()["status"] == "filled"
            positions = http.get("/api/portfolio").json()["positions"]
            assert [(p["symbol"], p["quantity"]) for p in positions] == [("AAPL", 3)]
        started = time.monotonic()
        assert service.terminate(timeout=15) == 0
        assert time.monotonic() - started < 10
        log = service.log_text()
        assert "realtime server stopped" in log and "tradewire stopped" in log
        assert "Traceback" not in log


def test_state_survives_a_restart() -> None:
    with ServiceProcess({}) as service:
        with httpx.Client(
            base_url=service.url, timeout=10, headers={"Origin": service.url}
        ) as http:
            http.post("/api/auth/login", json={"username": "demo", "password": "demo-password"})
            http.post("/api/orders", json={"symbol": "MSFT", "side": "buy", "quantity": 2})
            session = dict(http.cookies)
        service.restart()
        with httpx.Client(base_url=service.url, timeout=10, cookies=session) as http:
            positions = http.get("/api/portfolio").json()["positions"]
        assert [(p["symbol"], p["quantity"]) for p in positions] == [("MSFT", 2)]
