"""A flood against the real process: one client sends 10,000 events as fast as it can while a
well-behaved client of another user watches quotes and asks for acks. The server stays up, the
flooder is told to slow down and then disconnected, and the other client is served throughout.

The numbers (events sent, time to the disconnect, quotes and ack round trips the other client
saw during the flood) are printed, not asserted tightly: this runs on a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from tests.harness import ServiceProcess
from tests.realtime.clients import WAIT, Client
from tests.realtime.test_lifecycle import login, service_env

FLOOD_EVENTS = 10_000
FLOOD_SECONDS = 10.0
ACK_BOUND_SECONDS = 5.0
WATCHED = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "UNH"]


async def register(url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
        creds = {"username": username, "password": "password123"}
        (await http.post("/api/auth/register", json=creds)).raise_for_status()
        r = await http.post("/api/auth/login", json=creds)
        r.raise_for_status()
        return str(r.json()["sessionId"])


@pytest.mark.slow
async def test_a_flood_is_cut_off_and_a_well_behaved_client_is_served_meanwhile() -> None:
    with ServiceProcess(service_env(MARKET_TICK_RATE="20")) as service:
        flooder = await Client().connect(service.url, await login(service.url))
        bystander = await Client().connect(service.url, await register(service.url, "calm"))
        try:
            ack = await bystander.call("subscribe:watchlist", {"symbols": WATCHED})
            assert ack["ok"], ack
            await bystander.wait_for("quote:update", count=20)

            probes: list[tuple[float, float]] = []  # (sent at, round trip seconds)
            flooding = True

            async def probe_while_flooding() -> None:
                """An ack round trip as the flood starts, then one per ~5 quotes received
                (~25 ms) while it goes on (at most 50: `subscribe:watchlist` allows 60 a
                minute). The flood may be cut off within tens of milliseconds."""
                while flooding and len(probes) < 50:
                    seen = len(bystander.of("quote:update"))
                    sent = time.monotonic()
                    answer = await bystander.call(
                        "subscribe:watchlist", {"symbols": WATCHED}, timeout=ACK_BOUND_SECONDS
                    )
                    assert answer["ok"], answer
                    probes.append((sent, time.monotonic() - sent))
                    await bystander.wait_for("quote:update", count=seen + 5)

            prober = asyncio.create_task(probe_while_flooding())
            started = time.monotonic()
            sent = 0
            while sent < FLOOD_EVENTS and time.monotonic() - started < FLOOD_SECONDS:
                if not flooder.sio.connected:
                    break
                await flooder.sio.emit("subscribe:portfolio")
                sent += 1
            sending_done = time.monotonic()
            reason = await flooder.wait_disconnected(timeout=20)
            ended = max(time.monotonic(), sending_done)
            assert bystander.sio.connected
            flooding = False
            await prober
            # and after the flood (the prober may have used its 50 round trips during it)
            after = time.monotonic()
            answer = await bystander.call(
                "subscribe:watchlist", {"symbols": WATCHED}, timeout=ACK_BOUND_SECONDS
            )
            assert answer["ok"], answer
            probes.append((after, time.monotonic() - after))

            async with httpx.AsyncClient(base_url=service.url, timeout=WAIT) as http:
                assert (await http.get("/healthz")).status_code == 200
        finally:
            for client in (flooder, bystander):
                await client.close()

        during = [
            s for s in bystander.seen if s.name == "quote:update" and started <= s.at <= ended
        ]
        rtts = [rtt for at, rtt in probes if at <= ended]
        window = ended - started
        print(
            f"\nflood against the real process ({window:.2f} s from the first event to the "
            f"disconnect): {sent} events sent, {len(flooder.of('rate_limited'))} "
            f"rate_limited notices to the flooder; the other client got {len(during)} "
            f"quote:update ({len(during) / window:.0f}/s) and {len(rtts)} acks during it, "
            f"round trip median {statistics.median(rtts) * 1000 if rtts else float('nan'):.1f}"
            f" ms, max {max(rtts, default=float('nan')) * 1000:.1f} ms"
        )

        assert service.running, "the server went down under the flood"
        assert reason == flooder.sio.reason.SERVER_DISCONNECT
        assert flooder.of("rate_limited"), "the flooder was never told to slow down"
        assert during, "the well-behaved client got no quote during the flood"
        assert rtts, "the well-behaved client got no ack during the flood"
        assert all(rtt < ACK_BOUND_SECONDS for _, rtt in probes)
        log = service.log_text()
        assert log.count("socket disconnected for flooding") == 1
        assert log.count("rate limit exceeded") == 1
