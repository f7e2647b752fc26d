"""The JavaScript client that browsers and React Native use, socket.io-client 4.7.5 (pinned in
tests/js/package-lock.json), run with Node against a live server: connect with the session id
from POST /api/auth/login, watch quotes, see a trade, be refused, be told to go."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fixtures import in_ci
from tests.support import LiveServer

JS_DIR = Path(__file__).resolve().parents[1] / "js"
CLIENT_VERSION = "4.7.5"


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` program, with tests/js/node_modules installed (`npm ci`) when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "Node.js and npm are needed for the JS client tests (apt-get install nodejs npm)"
        if in_ci():
            pytest.fail(f"CI is set and {message}", pytrace=False)
        pytest.skip(message)
    installed = JS_DIR / "node_modules" / "socket.io-client" / "package.json"
    if not installed.is_file():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
            capture_output=True,
        )
    version = json.loads(installed.read_text())["version"]
    assert version == CLIENT_VERSION, f"tests/js has socket.io-client {version}: run npm ci"
    return node


@dataclass
class NodeClient:
    """One run of tests/js/client.mjs; `lines` are the JSON lines it printed so far."""

    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)

    async def until(self, type_: str, timeout: float = 15) -> dict[str, Any]:
        """Read lines until one of `type_` arrives (or was already read); return it."""
        for line in self.lines:
            if line["type"] == type_:
                return line
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            if not raw:
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(
                    f"client.mjs ended before a {type_!r} line; printed "
                    f"{self.lines}; stderr: {stderr.decode()[-2000:]}"
                )
            line = json.loads(raw)
            self.lines.append(line)
            if line["type"] == type_:
                return line

    def events(self, name: str) -> list[Any]:
        return [ln["data"] for ln in self.lines if ln["type"] == "event" and ln["event"] == name]

    async def finished(self) -> int:
        await self.until("done")
        return await asyncio.wait_for(self.process.wait(), 15)


@pytest.fixture
async def run_js(node: str) -> AsyncIterator[Any]:
    """`await run_js(url=..., sessionId=..., ...)`: client.mjs started with those options."""
    started: list[NodeClient] = []

    async def run(**options: Any) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "client.mjs"),
            json.dumps(options),
            cwd=JS_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        client = NodeClient(process)
        started.append(client)
        return client

    yield run
    for client in started:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.wait()


@pytest.mark.parametrize(
    "transports", [None, ["websocket"], ["polling"]], ids=["default", "websocket", "polling"]
)
async def test_a_js_client_watches_quotes(
    server: LiveServer, run_js: Any, transports: list[str] | None
) -> None:
    session_id = await server.login()
    until = ["quote:update"] if transports else ["quote:update", "upgrade"]
    client = await run_js(
        url=server.url,
        sessionId=session_id,
        transports=transports,
        watch=["AAPL", "MSFT"],
        until=until,
    )

    connected = await client.until("connect")
    ack = (await client.until("ack"))["data"]
    assert ack["ok"] is True and [q["symbol"] for q in ack["quotes"]] == ["AAPL", "MSFT"]
    assert await client.finished() == 0
    [update] = client.events("quote:update")[:1]
    assert update["symbol"] in ("AAPL", "MSFT")
    assert isinstance(update["last"], str) and isinstance(update["ts"], int)
    upgrades = [ln["transport"] for ln in client.lines if ln["type"] == "upgrade"]
    if transports is None:  # the default: long-polling first, then the upgrade to websocket
        assert upgrades == ["websocket"]
    else:
        assert connected["transport"] == transports[0] and upgrades == []


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_js_client_sees_its_trade_and_portfolio(
    server: LiveServer, run_js: Any, transport: str
) -> None:
    session_id = await server.login()
    client = await run_js(
        url=server.url,
        sessionId=session_id,
        transports=[transport],
        portfolio=True,
        until=["trade:executed", "portfolio:update"],
    )
    await client.until("ready")
    assert (await client.until("ack"))["data"]["portfolio"]["cash"] == "100000.00"

    order = await server.place_order(session_id, symbol="NVDA", side="buy", quantity=4)

    assert await client.finished() == 0
    [trade] = client.events("trade:executed")
    assert (trade["orderId"], trade["symbol"], trade["quantity"]) == (order["orderId"], "NVDA", 4)
    [portfolio] = client.events("portfolio:update")
    assert [(p["symbol"], p["quantity"]) for p in portfolio["positions"]] == [("NVDA", 4)]


@pytest.mark.parametrize(
    "session", ["a-made-up-session-id-0123456789", None], ids=["bad session", "no session"]
)
async def test_a_js_client_without_a_session_gets_unauthorized(
    server: LiveServer, run_js: Any, session: str | None
) -> None:
    options: dict[str, Any] = {"url": server.url, "transports": ["polling"], "reconnection": True}
    if session is not None:
        options["sessionId"] = session
    client = await run_js(**options)

    error = await client.until("connect_error")

    assert error["message"] == "unauthorized"
    assert error["data"] == {"code": "UNAUTHORIZED"}
    assert await client.finished() == 0  # and socket.io does not retry it by itself
    assert [ln["type"] for ln in client.lines] == ["connect_error", "done"]


async def test_a_js_client_is_told_about_a_shutdown_and_not_reconnected_by_socketio(
    server: LiveServer, run_js: Any
) -> None:
    session_id = await server.login()
    client = await run_js(
        url=server.url,
        sessionId=session_id,
        reconnection=True,
        until=["server:shutdown", "disconnect"],
    )
    await client.until("ready")

    assert server.services.realtime is not None
    await server.services.realtime.shutdown()

    assert await client.finished() == 0
    assert client.events("server:shutdown") == [{"reconnectAfterMs": 1000}]
    assert (await client.until("disconnect"))["reason"] == "io server disconnect"


async def test_a_burst_of_events_over_long_polling_is_answered_in_full(
    server: LiveServer, run_js: Any
) -> None:
    """A polling client sends every event emitted since its last POST in one POST; 40 of them
    (python-engineio alone would drop a POST of more than 16 packets, silently)."""
    session_id = await server.login()
    client = await run_js(
        url=server.url,
        sessionId=session_id,
        transports=["polling"],
        burst={"event": "subscribe:watchlist", "data": {"symbols": ["AAPL"]}, "count": 40},
    )

    answers = (await client.until("burst"))["answers"]

    assert len(answers) == 40
    assert all(a is not None and a["ok"] for a in answers), answers
    assert await client.finished() == 0
