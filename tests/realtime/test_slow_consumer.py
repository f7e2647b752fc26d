"""A client that stops reading for 30 s while quotes flow at full rate, against the real process.

The stalled client is a raw WebSocket (websockets' sans-I/O client over a blocking socket with a
small receive buffer), so it really stops reading: the server's kernel buffer fills, then the
transport pauses, then quotes for it are dropped rather than queued (engine.py, slow
consumers). Checked: the server's RSS stays bounded while it is stalled, a reading client of
another user keeps getting its quotes meanwhile, and when the stalled client reads again it is
still connected, gets the latest quotes of its symbols and its acks.

Latencies and RSS are printed (run with -s), not asserted tightly: this runs on a busy machine.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.harness import ServiceProcess
from tests.realtime.clients import WAIT, Client
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


class RawClient:
    """One Engine.IO/Socket.IO session over a blocking TCP socket that reads only when told."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        self.proto = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
            max_size=None,
        )
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.inbox: list[str] = []
        self.open = False
        self.closed = False

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    def read_once(self) -> None:
        """One recv: frames decoded into `inbox`, pings answered."""
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            self.proto.receive_eof()
        else:
            self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event
                self.open = True
            elif isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    text = bytes(event.data).decode()
                    if text == "2":
                        self.send("3")
                    self.inbox.append(text)
                elif event.opcode is Opcode.CLOSE:
                    self.closed = True
        self._flush()

    def read_until(self, wanted: Any, what: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for i, text in enumerate(self.inbox):
                if wanted(text):
                    del self.inbox[: i + 1]
                    return text
            self.inbox.clear()
            assert not self.closed, f"connection closed while waiting for {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            self.read_once()

    def events(self, name: str) -> list[Any]:
        prefix = f'42["{name}",'
        return [orjson.loads(t[2:])[1] for t in self.inbox if t.startswith(prefix)]

    def close(self) -> None:
        self.sock.close()


def stalled_client(port: int, session_id: str, symbols: list[str]) -> RawClient:
    client = RawClient(port)
    client.read_until(lambda t: t.startswith("0{"), "the Engine.IO open packet")
    client.send("40" + orjson.dumps({"sessionId": session_id}).decode())
    client.read_until(lambda t: t.startswith('40{"sid"'), "the CONNECT reply")
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
