"""The transport against a real server process (`tradewire protocol-test-server`), with raw
HTTP and WebSocket clients, as the protocol documents describe each exchange."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.realtime.transport.conftest import ProtocolServer

EIO = "/engine.io/?EIO=4&transport="
SIO = "/socket.io/?EIO=4&transport="


async def open_polling(http: httpx.AsyncClient, path: str = EIO) -> str:
    response = await http.get(path + "polling")
    assert response.status_code == 200
    assert response.text.startswith("0")
    return str(json.loads(response.text[1:])["sid"])


async def recv(ws: websockets.ClientConnection, timeout: float = 3) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout)


async def closed(ws: websockets.ClientConnection, timeout: float = 3) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def sio_connect(server: ProtocolServer, auth: str = "") -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url + SIO + "websocket")
    assert str(await recv(ws)).startswith("0")
    await ws.send("40" + auth)
    assert str(await recv(ws)).startswith("40{")
    assert str(await recv(ws)).startswith('42["auth"')
    return ws


@pytest.fixture
async def http(protocol_server: ProtocolServer) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=protocol_server.url, timeout=5) as client:
        yield client


class TestHandshake:
    async def test_polling_handshake_gives_the_session_and_its_limits(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.get(SIO + "polling")
        assert response.headers["content-type"].startswith("text/plain")
        head = json.loads(response.text[1:])
        assert head.keys() == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        assert head["upgrades"] == ["websocket"]
        assert (head["pingInterval"], head["pingTimeout"], head["maxPayload"]) == (
            300,
            200,
            1_000_000,
        )

    @pytest.mark.parametrize(
        ("query", "method", "code", "message"),
        [
            ("?transport=polling", "GET", 5, "Unsupported protocol version"),
            ("?EIO=3&transport=polling", "GET", 5, "Unsupported protocol version"),
            ("?EIO=4", "GET", 0, "Transport unknown"),
            ("?EIO=4&transport=abc", "GET", 0, "Transport unknown"),
            ("?EIO=4&transport=polling", "POST", 2, "Bad handshake method"),
            ("?EIO=4&transport=polling", "PUT", 2, "Bad handshake method"),
            ("?EIO=4&transport=polling&sid=nope", "GET", 1, "Session ID unknown"),
        ],
    )
    async def test_bad_requests_get_400_and_engine_io_error(
        self, http: httpx.AsyncClient, query: str, method: str, code: int, message: str
    ) -> None:
        response = await http.request(method, "/socket.io/" + query)
        assert response.status_code == 400
        assert response.json() == {"code": code, "message": message}

    async def test_websocket_handshake_has_no_upgrades(
        self, protocol_server: ProtocolServer
    ) -> None:
        async with websockets.connect(protocol_server.ws_url + EIO + "websocket") as ws:
            head = json.loads(str(await recv(ws))[1:])
            assert head["upgrades"] == []

    async def test_websocket_with_bad_query_is_refused_with_400(
        self, protocol_server: ProtocolServer
    ) -> None:
        for query in ("/engine.io/?transport=websocket", "/engine.io/?EIO=4&transport=abc"):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(protocol_server.ws_url + query)
            assert refused.value.response.status_code == 400

    async def test_a_foreign_origin_is_refused_unless_allowed(
        self, http: httpx.AsyncClient
    ) -> None:
        # the test server allows any origin, and says so with credentials
        response = await http.get(SIO + "polling", headers={"Origin": "http://elsewhere"})
        assert response.headers["access-control-allow-origin"] == "http://elsewhere"
        assert response.headers["access-control-allow-credentials"] == "true"


class TestPolling:
    async def test_messages_go_both_ways_in_payloads(self, http: httpx.AsyncClient) -> None:
        sid = await open_polling(http)
        pushed = await http.post(f"{EIO}polling&sid={sid}", content="4hello\x1e4test2\x1ebAQIDBA==")
        assert (pushed.status_code, pushed.text) == (200, "ok")
        polled = await http.get(f"{EIO}polling&sid={sid}")
        assert polled.text == "4hello\x1e4test2\x1ebAQIDBA=="

    async def test_ping_pong_keeps_the_session_and_a_missed_pong_ends_it(
        self, http: httpx.AsyncClient
    ) -> None:
        sid = await open_polling(http)
        for _ in range(3):
            polled = await http.get(f"{EIO}polling&sid={sid}")
            assert polled.text == "2"
            assert (await http.post(f"{EIO}polling&sid={sid}", content="3")).status_code == 200
        await asyncio.sleep(0.3 + 0.2 + 0.05)  # past pingInterval + pingTimeout
        assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400

    async def test_a_client_close_answers_the_waiting_poll_with_a_noop(
        self, http: httpx.AsyncClient
    ) -> None:
        sid = await open_polling(http)
        poll = asyncio.ensure_future(http.get(f"{EIO}polling&sid={sid}"))
        await asyncio.sleep(0.05)
        await http.post(f"{EIO}polling&sid={sid}", content="1")
        assert (await poll).text == "6"
        assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400

    async def test_a_second_waiting_poll_closes_the_session(self, http: httpx.AsyncClient) -> None:
        sid = await open_polling(http)
        first = asyncio.ensure_future(http.get(f"{EIO}polling&sid={sid}"))
        await asyncio.sleep(0.05)
        second = await http.get(f"{EIO}polling&sid={sid}")
        assert second.status_code == 400
        assert (await first).text == "1"
        assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400

    async def test_an_invalid_payload_closes_that_session_only(
        self, http: httpx.AsyncClient
    ) -> None:
        bad, good = await open_polling(http), await open_polling(http)
        assert (await http.post(f"{EIO}polling&sid={bad}", content="abc")).status_code == 400
        assert (await http.get(f"{EIO}polling&sid={bad}")).status_code == 400
        assert (await http.post(f"{EIO}polling&sid={good}", content="4still")).text == "ok"
        assert (await http.get(f"{EIO}polling&sid={good}")).text == "4still"

    async def test_an_oversized_post_is_refused_before_its_body_is_read(
        self, protocol_server: ProtocolServer, http: httpx.AsyncClient
    ) -> None:
        sid = await open_polling(http)
        reader, writer = await asyncio.open_connection("127.0.0.1", protocol_server.port)
        writer.write(
            (
                f"POST {EIO}polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: text/plain\r\nContent-Length: 50000000\r\n\r\n4"
            ).encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 3)  # 49,999,999 bytes unsent
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 413")
        assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400

    async def test_a_streamed_body_over_the_limit_is_refused(
        self, protocol_server: ProtocolServer, http: httpx.AsyncClient
    ) -> None:
        sid = await open_polling(http)
        reader, writer = await asyncio.open_connection("127.0.0.1", protocol_server.port)
        writer.write(
            (
                f"POST {EIO}polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = b"x" * 100_000
        for _ in range(11):  # 1.1 MB, with no end of body: the server must not wait for it
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 3)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 413")
        assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400


class TestWebSocket:
    async def test_messages_echo_as_text_and_binary(self, protocol_server: ProtocolServer) -> None:
        async with websockets.connect(protocol_server.ws_url + EIO + "websocket") as ws:
            await recv(ws)
            await ws.send("4hello")
            assert await recv(ws) == "4hello"
            await ws.send(b"\x01\x02\x03\x04")
            assert await recv(ws) == b"\x01\x02\x03\x04"

    async def test_heartbeat_and_ping_timeout(self, protocol_server: ProtocolServer) -> None:
        async with websockets.connect(protocol_server.ws_url + EIO + "websocket") as ws:
            await recv(ws)
            for _ in range(3):
                assert await recv(ws) == "2"
                await ws.send("3")
            assert await recv(ws) == "2"  # not answered: the server closes
            started = time.monotonic()
            await closed(ws)
            assert time.monotonic() - started < 1.0

    async def test_an_invalid_packet_closes_the_connection(
        self, protocol_server: ProtocolServer
    ) -> None:
        async with websockets.connect(protocol_server.ws_url + EIO + "websocket") as ws:
            await recv(ws)
            await ws.send("abc")
            assert await closed(ws) is not None

    async def test_a_message_over_max_payload_closes_with_1009(
        self, protocol_server: ProtocolServer
    ) -> None:
        async with websockets.connect(
            protocol_server.ws_url + EIO + "websocket", max_size=None
        ) as ws:
            await recv(ws)
            await ws.send("4" + "x" * 1_000_001)
            assert await closed(ws) == 1009

    async def test_upgrade_from_polling(
        self, protocol_server: ProtocolServer, http: httpx.AsyncClient
    ) -> None:
        sid = await open_polling(http)
        waiting = asyncio.ensure_future(http.get(f"{EIO}polling&sid={sid}"))
        await asyncio.sleep(0.05)
        async with websockets.connect(f"{protocol_server.ws_url}{EIO}websocket&sid={sid}") as ws:
            await ws.send("2probe")
            assert await recv(ws) == "3probe"
            assert (await waiting).text == "6"  # the noop that ends the waiting GET
            await ws.send("5")
            await ws.send("4hello")
            assert await recv(ws) == "4hello"
            assert (await http.get(f"{EIO}polling&sid={sid}")).status_code == 400
            # a second WebSocket for the same session is closed
            async with websockets.connect(
                f"{protocol_server.ws_url}{EIO}websocket&sid={sid}"
            ) as again:
                assert await closed(again) == 1008


class TestSocketIO:
    async def test_connect_with_auth_and_custom_namespace(
        self, protocol_server: ProtocolServer
    ) -> None:
        async with websockets.connect(protocol_server.ws_url + SIO + "websocket") as ws:
            await recv(ws)
            await ws.send('40/custom,{"token":"abc"}')
            reply = str(await recv(ws))
            assert reply.startswith("40/custom,")
            assert json.loads(reply[len("40/custom,") :]).keys() == {"sid"}
            assert await recv(ws) == '42/custom,["auth",{"token":"abc"}]'
            await ws.send("40/random")
            assert await recv(ws) == '44/random,{"message":"Invalid namespace"}'

    async def test_events_acks_and_binary(self, protocol_server: ProtocolServer) -> None:
        ws = await sio_connect(protocol_server)
        async with ws:
            await ws.send('42["message",1,"2",{"3":[true]}]')
            assert await recv(ws) == '42["message-back",1,"2",{"3":[true]}]'
            await ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
            assert await recv(ws) == '43456[1,"2",{"3":[false]}]'
            await ws.send(
                '452-789["message-with-ack",{"_placeholder":true,"num":0},'
                '{"_placeholder":true,"num":1}]'
            )
            await ws.send(b"\x01\x02\x03")
            await ws.send(b"\x04\x05\x06")
            assert await recv(ws) == (
                '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
            )
            assert await recv(ws) == b"\x01\x02\x03"
            assert await recv(ws) == b"\x04\x05\x06"

    async def test_disconnecting_a_namespace_keeps_the_connection(
        self, protocol_server: ProtocolServer
    ) -> None:
        ws = await sio_connect(protocol_server)
        async with ws:
            await ws.send("40/custom")
            assert str(await recv(ws)).startswith("40/custom,")
            assert await recv(ws) == '42/custom,["auth",{}]'
            await ws.send("41/custom")
            await ws.send('42["message","main"]')
            assert await recv(ws) == '42["message-back","main"]'

    @pytest.mark.parametrize("bad", ["4abc", "42{}", '42abc["message-with-ack",1]', "45-[]"])
    async def test_an_invalid_packet_closes_that_connection_and_no_other(
        self, protocol_server: ProtocolServer, bad: str
    ) -> None:
        other = await sio_connect(protocol_server)
        ws = await sio_connect(protocol_server)
        async with other, ws:
            await ws.send(bad)
            assert await closed(ws) is not None
            await other.send('42["message","fine"]')
            assert await recv(other) == '42["message-back","fine"]'

    async def test_attachments_count_toward_the_payload_limit(
        self, protocol_server: ProtocolServer
    ) -> None:
        ws = await sio_connect(protocol_server)
        async with ws:
            await ws.send(
                '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
            )
            await ws.send(b"x" * 600_000)
            await ws.send(b"y" * 600_000)  # each under 1,000,000, together over it
            assert await closed(ws) is not None

    async def test_a_connection_that_never_connects_a_namespace_is_closed(
        self, protocol_server: ProtocolServer
    ) -> None:
        async with websockets.connect(protocol_server.ws_url + SIO + "websocket") as ws:
            await recv(ws)
            started = time.monotonic()
            while True:  # answer pings, send no CONNECT
                try:
                    message = await recv(ws)
                except ConnectionClosed:
                    break
                if message == "2":
                    await ws.send("3")
            assert 0.8 < time.monotonic() - started < 2.5


async def test_a_burst_of_unknown_acks_is_ignored_quietly(protocol_server: ProtocolServer) -> None:
    """Acks for calls that were never made are dropped: no reply, no log line each."""
    log_before = len(protocol_server.process.log_text().splitlines())
    ws = await sio_connect(protocol_server)
    async with ws:
        for n in range(5000):
            await ws.send(f"3{n}[]")
        await ws.send('42["message","after"]')
        assert await recv(ws, timeout=10) == '42["message-back","after"]'
    assert len(protocol_server.process.log_text().splitlines()) - log_before < 10
