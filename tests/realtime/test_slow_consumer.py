"""A client that stops reading for 30 s while quotes flow at full rate, against the real process.

The stalled client is a raw WebSocket (tests/realtime/raw.py) with a small receive buffer, so it
really stops reading: the server's kernel buffer fills, then the transport pauses, then quotes
for it are dropped rather than queued (engine.py, slow consumers). Checked: the server's RSS
stays bounded while it is stalled, a reading client of another user keeps getting its quotes
meanwhile, and when the stalled client reads again it is still connected, gets the latest
quotes of its symbols and its acks.

Latencies and RSS are printed (run with -s), not asserted tightly: this runs on a busy machine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.harness import ServiceProcess
from tests.realtime.clients import WAIT, Client
from tests.realtime.raw import RawClient, connected_client
from tests.realtime.test_flood import register
from tests.realtime.test_lifecycle import login, service_env

STALL_SECONDS = 30.0
BASELINE_SECONDS = 5.0
RSS_BOUND_MB = 64.0
"""How much the server's RSS may grow while the client is stalled (the socket's queue is bounded
at 4 MiB; the rest is allocator noise)."""
BYSTANDER_SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def stalled_client(port: int, session_id: str, symbols: list[str]) -> RawClient:
    client = connected_client(port, session_id, rcvbuf=16 * 1024)
    client.send('421["subscribe:watchlist",' + orjson.dumps({"symbols": symbols}).decode() + "]")
    ack = client.read_until(lambda t: t.startswith("431"), "the subscribe ack")
    assert orjson.loads(ack[3:])[0]["ok"], ack
    return client


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


@pytest.mark.slow
async def test_a_client_that_stops_reading_for_30_s_is_bounded_and_recovers() -> None:
    with ServiceProcess(service_env(MARKET_TICK_RATE="20")) as service:
        assert service.pid is not None
        async with httpx.AsyncClient(base_url=service.url, timeout=WAIT) as http:
            symbols = [q["symbol"] for q in (await http.get("/api/quotes")).json()][:50]
        bystander = await Client().connect(service.url, await register(service.url, "reader"))
        ack = await bystander.call("subscribe:watchlist", {"symbols": BYSTANDER_SYMBOLS})
        assert ack["ok"], ack
        wall = time.time() - time.monotonic()  # the clients stamp arrivals with monotonic()

        def latencies_ms(since: float, until: float) -> list[float]:
            return [
                (seen.at + wall) * 1000 - seen.data["ts"]
                for seen in bystander.seen
                if seen.name == "quote:update" and since <= seen.at + wall < until
            ]

        t0 = time.time()
        await asyncio.sleep(BASELINE_SECONDS)  # the bystander's quotes before the stall
        t1 = time.time()
        session_id = await login(service.url)
        stalled = await asyncio.to_thread(stalled_client, service.port, session_id, symbols)
        rss_before = rss_mb(service.pid)
        rss_samples = [rss_before]
        stall_started = time.time()
        try:
            while time.time() - stall_started < STALL_SECONDS:  # it reads nothing meanwhile
                await asyncio.sleep(1.0)
                rss_samples.append(rss_mb(service.pid))
            t2 = time.time()

            before, during = latencies_ms(t0, t1), latencies_ms(stall_started, t2)
            print(
                f"\nstalled {STALL_SECONDS:.0f} s on {len(symbols)} symbols; server RSS "
                f"{rss_before:.1f} MB -> max {max(rss_samples):.1f} MB; bystander quotes "
                f"{len(before) / (t1 - t0):.1f}/s p99 {p99(before):.1f} ms before, "
                f"{len(during) / (t2 - stall_started):.1f}/s p99 {p99(during):.1f} ms during"
            )
            assert max(rss_samples) - rss_before < RSS_BOUND_MB
            assert len(during) / (t2 - stall_started) > 0.5 * len(before) / (t1 - t0)

            def catch_up() -> float:
                """Read until a quote of every symbol stamped after the stall began arrives."""
                started = time.monotonic()
                fresh: set[str] = set()
                while len(fresh) < len(symbols):
                    assert not stalled.closed, "the stalled client was disconnected"
                    assert time.monotonic() - started < WAIT, f"fresh quotes of {sorted(fresh)}"
                    stalled.read_once()
                    fresh.update(
                        q["symbol"]
                        for q in stalled.events("quote:update")
                        if q["ts"] >= t2 * 1000 - 1000
                    )
                    stalled.inbox.clear()
                return time.monotonic() - started

            took = await asyncio.to_thread(catch_up)
            print(f"caught up: a fresh quote of each of {len(symbols)} symbols in {took:.2f} s")
            await asyncio.to_thread(stalled.send, '422["subscribe:watchlist",{"symbols":["AAPL"]}]')
            ack2 = await asyncio.to_thread(
                stalled.read_until, lambda t: t.startswith("432"), "the ack after the stall"
            )
            assert orjson.loads(ack2[3:])[0]["ok"], ack2
        finally:
            stalled.close()
            await bystander.close()
