"""The stock clients against the transport: python-socketio's AsyncClient and the JS
socket.io-client@4.7.5, on polling, WebSocket and the upgrade between them."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
import socketio

from tests.realtime.test_js_client import JS_DIR
from tests.realtime.transport.conftest import ProtocolServer


@pytest.mark.parametrize(
    "transports",
    [["polling"], ["websocket"], ["polling", "websocket"]],
    ids=["polling", "websocket", "upgrade"],
)
async def test_python_socketio_client(
    protocol_server: ProtocolServer, transports: list[str]
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    auth: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    back: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("auth", lambda data: auth.set_result(data), namespace="/custom")
    client.on("message-back", lambda *args: back.set_result(args), namespace="/custom")
    await client.connect(
        protocol_server.url,
        namespaces=["/custom"],
        transports=transports,
        auth={"token": "t"},
        wait_timeout=5,
    )
    try:
        assert await asyncio.wait_for(auth, 5) == {"token": "t"}
        await client.emit("message", ("a", {"b": 1}), namespace="/custom")
        assert await asyncio.wait_for(back, 5) == ("a", {"b": 1})
        ack = await client.call(
            "message-with-ack", [1, b"\x00\x01"], namespace="/custom", timeout=5
        )
        assert ack == [1, b"\x00\x01"]
        if transports[-1] == "websocket":
            await asyncio.sleep(0.2)
        assert client.transport() == transports[-1]
    finally:
        await client.disconnect()


@pytest.mark.parametrize(
    "options",
    [
        {"transports": ["websocket"]},
        {"transports": ["polling"]},
        {"upgrade": True},
    ],
    ids=["websocket", "polling", "upgrade"],
)
async def test_js_socket_io_client(
    protocol_server: ProtocolServer,
    node: str,
    options: dict[str, Any],
) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "echo-client.mjs"),
        json.dumps({"url": protocol_server.url + "/custom", "auth": {"token": "js"}, **options}),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, (out, err)
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result == {
        "auth": {"token": "js"},
        "back": [1, "2", {"3": [True]}],
        "ack": ["x", {"y": [1, None]}],
        "binary": [1, 2, 3],
        "transport": "polling" if options.get("transports") == ["polling"] else "websocket",
    }
