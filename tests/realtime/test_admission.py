"""Admission of new connections: a reconnection storm is let in at SOCKET_HANDSHAKE_RATE, the
rest answered 503 with `Retry-After`, while live sockets and /healthz are served."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.realtime.clients import Client, metric
from tests.realtime.conftest import fresh_settings
from tests.support import LiveServer
from tradewire.realtime.engine import TOO_MANY_HANDSHAKES, HandshakeBucket

REFUSED_BODY = {"code": TOO_MANY_HANDSHAKES[0], "message": TOO_MANY_HANDSHAKES[1]}


def test_the_bucket_admits_a_burst_then_the_rate() -> None:
    bucket = HandshakeBucket(rate=2.0, burst=3)
    t0 = bucket.at
    assert [bucket.take(t0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(t0) == pytest.approx(0.5)  # one token comes every 0.5 s
    assert bucket.take(t0 + 0.5) == 0.0
    assert bucket.take(t0 + 0.5) == pytest.approx(0.5)
    assert [bucket.take(t0 + 100.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # capped at 3


async def test_a_storm_is_refused_with_retry_after_and_the_live_sockets_are_served(
    tmp_path: Path, migrated_database: Path
) -> None:
    settings = fresh_settings(
        tmp_path, migrated_database, socket_handshake_rate=2.0, socket_handshake_burst=3
    )
    async with LiveServer(settings) as server:
        session_id = await server.login()
        async with Client() as live:
            await live.connect(server.url, session_id)  # one of the burst's three
            refused_before = metric("tradewire_socket_handshakes_refused_total")
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                answers = await asyncio.gather(
                    *(http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
                      for _ in range(12))
                )  # fmt: skip
                statuses = [r.status_code for r in answers]
                assert statuses.count(200) <= 2 and statuses.count(503) >= 10, statuses
                refused = next(r for r in answers if r.status_code == 503)
                assert refused.headers["retry-after"] == "1"
                assert refused.json() == REFUSED_BODY

                ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
                with pytest.raises(websockets.InvalidStatus) as caught:
                    async with ws_connect(ws_url):
                        pass
                assert caught.value.response.status_code == 503
                assert caught.value.response.headers["Retry-After"] == "1"

                assert (await http.get("/healthz")).status_code == 200
                ack = await live.call("subscribe:portfolio")  # the live socket is served
                assert ack["ok"] is True

            assert metric("tradewire_socket_handshakes_refused_total") - refused_before >= 11

            await asyncio.sleep(1.0)  # two tokens later, a client gets in
            async with Client() as later:
                await later.connect(server.url, session_id)
                assert (await later.call("subscribe:trades"))["ok"] is True


async def test_over_the_rate_a_new_websocket_is_refused_but_an_upgrade_goes_through(
    tmp_path: Path, migrated_database: Path
) -> None:
    """The refusal is made from the request line, before the handshake is parsed: a complete
    503 with `Retry-After` and the JSON error, then the server closes the connection. The
    upgrade of an open long-polling session is never counted against the rate."""
    settings = fresh_settings(
        tmp_path, migrated_database, socket_handshake_rate=0.01, socket_handshake_burst=1
    )
    async with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            assert opened.status_code == 200  # the burst's one session
            sid = json.loads(opened.text[1:])["sid"]

        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 10)  # to EOF: the server closed
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        status, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
        assert status == "HTTP/1.1 503 Service Unavailable"
        assert headers["retry-after"] == str(int(1 / 0.01))  # a token every 100 s
        assert headers["connection"] == "close"
        assert int(headers["content-length"]) == len(body)
        assert json.loads(body) == REFUSED_BODY

        ws_url = (
            server.url.replace("http", "ws") + f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
        )
        async with ws_connect(ws_url) as ws:  # the upgrade: admitted though the bucket is empty
            await ws.send("2probe")
            assert await asyncio.wait_for(ws.recv(), 10) == "3probe"
