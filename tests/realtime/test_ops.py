"""The ops view: live figures for administrators, latency probes of a sample of sockets."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.harness.waiting import wait_until
from tests.support import LiveServer, SocketClient
from tradewire.realtime import server as realtime_server
from tradewire.realtime.ops import RollingLatency
from tradewire.schemas import OpsStats


def rtt_count() -> float:
    return REGISTRY.get_sample_value("tradewire_client_rtt_seconds_count") or 0.0


async def test_admins_get_live_figures(server: LiveServer) -> None:
    admin = await server.login()  # the demo account is an administrator
    async with SocketClient() as client:
        await client.connect(server.url, admin)
        ack = await client.sio.call("subscribe:ops")
        assert ack["ok"] is True
        assert ack["stats"]["connections"] == 1
        await client.sio.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"]})
        [first, *_] = await client.wait_for("ops:stats", count=2)
        stats = client.of("ops:stats")[-1]
        assert set(stats) >= {
            "instance",
            "connections",
            "messagesPerSecond",
            "quoteLatencyMs",
            "tradeLatencyMs",
            "clientRttMs",
            "ts",
        }
        assert stats["connections"] == 1 and stats["messagesPerSecond"] > 0
        assert stats["quoteLatencyMs"]["count"] > 0 and stats["quoteLatencyMs"]["p99"] >= 0
        assert await client.sio.call("unsubscribe:ops") == {"ok": True}
        assert server.services.realtime is not None
        assert server.services.realtime.ops_sockets == set()
    async with server.http(admin) as http:
        r = await http.get("/api/ops/stats")
    assert r.status_code == 200 and r.json()["instance"] == first["instance"]
    assert set(r.json()) == set(first)  # the ops:stats payload, typed as OpsStats in OpenAPI
    assert OpsStats.model_validate(r.json()).instance == first["instance"]


async def test_the_ops_view_is_refused_to_other_users(server: LiveServer) -> None:
    trader = await server.register("trader")
    async with SocketClient() as client:
        await client.connect(server.url, trader)
        ack = await client.sio.call("subscribe:ops")
    assert ack == {
        "ok": False,
        "error": {"code": "FORBIDDEN", "message": "The ops view is for administrators."},
    }
    async with server.http(trader) as http:
        r = await http.get("/api/ops/stats")
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


async def test_clients_that_answer_latency_probes_are_timed(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime_server, "PROBE_INTERVAL", 0.0)
    before = rtt_count()
    async with SocketClient() as client:
        pings: list[Any] = []

        def pong(data: Any) -> dict[str, bool]:
            pings.append(data)
            return {"ok": True}

        client.sio.on("latency:ping", pong)
        await client.connect(server.url, await server.login())
        await wait_until(
            lambda: rtt_count() > before, timeout=10, what="a latency probe answered and timed"
        )
    assert isinstance(pings[0]["ts"], int)
    assert server.services.realtime is not None
    assert server.services.realtime.ops_snapshot()["clientRttMs"]["count"] >= 1


def test_rolling_percentiles_forget_old_samples() -> None:
    window = RollingLatency()
    assert window.percentiles_ms(now=0) == {"p50": None, "p95": None, "p99": None, "count": 0}
    for i in range(100):
        window.add((i + 1) / 1000, now=0)
    figures = window.percentiles_ms(now=1)
    assert figures["count"] == 100 and figures["p50"] == 51.0 and figures["p99"] == 100.0
    assert window.percentiles_ms(now=1000)["count"] == 0
