"""The JS SDK, @tradewire/client (clients/js, built with tsc into clients/js/dist), under Node
with no DOM globals and the WebSocket transport only, as React Native runs it, against a live
tradewire: log in, subscribe portfolio, trades and a watchlist, see quotes and its own trade, and
come back subscribed after a server-side disconnect, a restart (SIGTERM) and a crash (SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ServiceProcess
from tests.harness.fixtures import in_ci
from tests.realtime.test_lifecycle import service_env
from tests.support import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = ROOT / "clients" / "js"
SCRIPT = ROOT / "tests" / "js" / "sdk-session.mjs"
WAIT = 20.0

Line = dict[str, Any]


def _newest_source(folder: Path) -> float:
    files = [*folder.glob("src/**/*.ts"), folder / "package.json", folder / "tsconfig.json"]
    return max(f.stat().st_mtime for f in files)


@pytest.fixture(scope="session")
def sdk_node() -> str:
    """`node`, with clients/js installed (`npm ci`) and built (`npm run build`) when needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "Node.js and npm are needed for the JS SDK tests (apt-get install nodejs npm)"
        if in_ci():
            pytest.fail(f"CI is set and {message}", pytrace=False)
        pytest.skip(message)
    if not (SDK_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=SDK_DIR,
            check=True,
            timeout=300,
            capture_output=True,
        )
    built = SDK_DIR / "dist" / "index.js"
    if not built.is_file() or built.stat().st_mtime < _newest_source(SDK_DIR):
        subprocess.run(
            [npm, "run", "build"], cwd=SDK_DIR, check=True, timeout=300, capture_output=True
        )
    version = json.loads(
        (SDK_DIR / "node_modules" / "socket.io-client" / "package.json").read_text()
    )["version"]
    assert version == "4.7.5", f"clients/js has socket.io-client {version}: run npm ci there"
    return node


@dataclass
class SdkSession:
    """One run of tests/js/sdk-session.mjs; `lines` are the JSON lines it printed so far."""

    process: asyncio.subprocess.Process
    lines: list[Line] = field(default_factory=list)
    mark: int = 0  # waits look at lines from here on (see `after`)

    def after(self, line: Line) -> None:
        """From now on, waits look only at what was printed after `line`."""
        self.mark = self.lines.index(line) + 1

    async def until(self, what: str, match: Callable[[Line], bool], timeout: float = WAIT) -> Line:
        """The first line since the mark that `match`es, reading more for up to `timeout`."""
        assert self.process.stdout is not None
        deadline = asyncio.get_running_loop().time() + timeout
        checked = self.mark
        while True:
            for line in self.lines[checked:]:
                if match(line):
                    return line
            checked = max(checked, len(self.lines))
            left = deadline - asyncio.get_running_loop().time()
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), max(left, 0.01))
            except TimeoutError:
                raise AssertionError(
                    f"no {what} within {timeout} s; last lines: {self.lines[-12:]}"
                ) from None
            if not raw:
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(
                    f"sdk-session.mjs ended before {what}; last lines {self.lines[-12:]}; "
                    f"stderr: {stderr.decode()[-2000:]}"
                )
            self.lines.append(json.loads(raw))

    async def type(self, type_: str, timeout: float = WAIT) -> Line:
        return await self.until(f"a {type_!r} line", lambda ln: ln["type"] == type_, timeout)

    async def event(self, name: str, timeout: float = WAIT) -> Any:
        line = await self.until(
            f"a {name!r} event",
            lambda ln: ln["type"] == "event" and ln["event"] == name,
            timeout,
        )
        return line["data"]

    def seen(self, type_: str) -> list[Line]:
        return [ln for ln in self.lines if ln["type"] == type_]

    async def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def quit(self) -> int:
        await self.send(cmd="quit")
        await self.type("done")
        return await asyncio.wait_for(self.process.wait(), WAIT)


@pytest.fixture
async def run_sdk(sdk_node: str) -> AsyncIterator[Callable[..., Any]]:
    """`await run_sdk(url=..., ...)`: sdk-session.mjs started with those options."""
    started: list[SdkSession] = []

    async def run(**options: Any) -> SdkSession:
        process = await asyncio.create_subprocess_exec(
            sdk_node,
            str(SCRIPT),
            json.dumps(options),
            cwd=SCRIPT.parent,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        session = SdkSession(process)
        started.append(session)
        return session

    yield run
    for session in started:
        if session.process.returncode is None:
            session.process.kill()
            await session.process.wait()


async def subscribed(session: SdkSession) -> str:
    """Waits for the login, the first connect and the three subscriptions; returns the sid."""
    globals_ = await session.type("globals")
    assert (globals_["window"], globals_["document"]) == ("undefined", "undefined")
    connect = await session.type("connect")
    ack = await session.type("subscribed")
    assert ack["quotes"] == ["AAPL", "MSFT"], ack
    session.after(await session.type("ready"))
    return str(connect["sid"])


async def resubscribed_and_live(session: SdkSession, cash: str | None = None) -> None:
    """After a reconnect: the subscriptions were sent again by the SDK (watchlist included),
    quotes flow again and an order placed over REST comes back as trade:executed."""
    again = await session.type("resubscribed", timeout=40)
    assert again["quotes"] == ["AAPL", "MSFT"], again
    assert again["trades"] is not None and again["cash"] is not None
    if cash is not None:
        assert again["cash"] == cash
    assert again["subscriptions"]["watchlist"] == ["AAPL", "MSFT"]
    session.after(again)
    update = await session.event("quote:update")
    assert update["symbol"] in ("AAPL", "MSFT")
    await session.send(cmd="order", symbol="MSFT", side="buy", quantity=1)
    order = await session.type("order")
    assert order["status"] == 201, order
    trade = await session.event("trade:executed")
    assert (trade["orderId"], trade["symbol"]) == (order["data"]["orderId"], "MSFT")


async def test_the_sdk_logs_in_subscribes_and_sees_quotes_and_its_trade(
    server: LiveServer, run_sdk: Any
) -> None:
    session = await run_sdk(url=server.url, watch=["AAPL", "MSFT"])
    await subscribed(session)
    [logged_in] = session.seen("login")
    assert logged_in["userId"] >= 1

    update = await session.event("quote:update")
    assert update["symbol"] in ("AAPL", "MSFT") and isinstance(update["last"], str)

    await session.send(cmd="order", symbol="NVDA", side="buy", quantity=4)
    order = await session.type("order")
    assert order["status"] == 201, order
    trade = await session.event("trade:executed")
    assert (trade["orderId"], trade["symbol"], trade["quantity"]) == (
        order["data"]["orderId"],
        "NVDA",
        4,
    )
    portfolio = await session.event("portfolio:update")
    assert [(p["symbol"], p["quantity"]) for p in portfolio["positions"]] == [("NVDA", 4)]

    await session.send(cmd="logout")
    assert await session.type("logout") == {"type": "logout", "me": 401, "connected": False}
    assert await session.quit() == 0


async def test_the_sdk_resubscribes_after_a_server_side_disconnect(
    server: LiveServer, run_sdk: Any
) -> None:
    realtime = server.services.realtime
    assert realtime is not None
    session = await run_sdk(url=server.url, watch=["AAPL", "MSFT"])
    first_sid = await subscribed(session)

    assert realtime.disconnect(first_sid)

    disconnect = await session.type("disconnect")
    assert disconnect["reason"] == "io server disconnect"
    scheduled = await session.type("reconnect_scheduled")
    assert scheduled["attempt"] == 1 and 500 <= scheduled["delayMs"] <= 1500  # 1 s, jittered
    second_sid = (await session.type("connect"))["sid"]
    assert second_sid != first_sid
    await resubscribed_and_live(session, cash="100000.00")
    assert realtime.sockets[second_sid].symbols == {"AAPL", "MSFT"}
    assert await session.quit() == 0


async def test_the_sdk_with_a_bad_session_is_refused_with_unauthorized_and_stops(
    server: LiveServer, run_sdk: Any
) -> None:
    session = await run_sdk(url=server.url, sessionId="a-made-up-session-id-0123456789")

    refused = await session.type("connect_error")
    error = await session.type("error")

    assert (refused["name"], refused["code"]) == ("UnauthorizedError", "UNAUTHORIZED")
    assert (error["name"], error["code"], error["typed"]) == (
        "UnauthorizedError",
        "UNAUTHORIZED",
        True,
    )
    await session.type("done")
    assert await asyncio.wait_for(session.process.wait(), WAIT) == 0
    assert session.seen("reconnect_scheduled") == []
    assert [ln["type"] for ln in session.lines] == ["globals", "connect_error", "error", "done"]


@pytest.mark.slow
async def test_after_a_restart_the_sdk_backs_off_reconnects_and_resubscribes(
    run_sdk: Any,
) -> None:
    """SIGTERM: server:shutdown, then io server disconnect; the SDK waits reconnectAfterMs
    (jittered), connects to the new process on the same port and subscribes again."""
    with ServiceProcess(service_env()) as service:
        session = await run_sdk(url=service.url, watch=["AAPL", "MSFT"])
        await subscribed(session)

        await asyncio.to_thread(service.restart)

        assert await session.event("server:shutdown") == {"reconnectAfterMs": 1000}
        assert (await session.type("disconnect"))["reason"] == "io server disconnect"
        scheduled = await session.type("reconnect_scheduled")
        assert scheduled["attempt"] == 1 and 500 <= scheduled["delayMs"] <= 1500
        await session.type("connect", timeout=40)
        await resubscribed_and_live(session)
        assert await session.quit() == 0


@pytest.mark.slow
async def test_after_a_crash_the_sdk_reconnects_through_socketio_and_resubscribes(
    run_sdk: Any,
) -> None:
    """SIGKILL: the transport just drops; socket.io's own reconnection brings the SDK back
    once a new process listens, and the SDK subscribes again (no back-off of its own)."""
    with ServiceProcess(service_env()) as service:
        session = await run_sdk(url=service.url, watch=["AAPL", "MSFT"])
        await subscribed(session)

        await asyncio.to_thread(service.kill)
        disconnect = await session.type("disconnect")
        assert disconnect["reason"] != "io server disconnect"
        await asyncio.to_thread(service.start)

        await session.type("connect", timeout=40)
        await resubscribed_and_live(session)
        assert session.seen("reconnect_scheduled") == []
        assert await session.quit() == 0
