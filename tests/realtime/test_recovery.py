"""Connection-state recovery with the stock socket.io-client 4.7.5 against a live server: a
socket whose network drops comes back `recovered`, with its subscriptions and exactly the user
events it missed, in order; after the window it does not, and `GET /api/events` has them. Also
the user events' `seq` / `epoch` seen by python-socketio, and the recovery store in-process."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness.waiting import wait_until
from tests.realtime.conftest import Connect
from tests.realtime.test_js_client import JS_DIR, node  # noqa: F401 (the fixture)
from tests.support import LiveServer
from tradewire.realtime.recovery import LoggedEvent, MemoryRecoveryStore, SavedSession
from tradewire.realtime.server import RealtimeServer
from tradewire.schemas import UserEventsPage

USER_EVENTS = ("trade:executed", "trade:failed", "portfolio:update")
WAIT = 20.0


class RecoveringClient:
    """tests/js/recovery-client.mjs: told to drop its network and to come back on stdin."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def until(self, type_: str, count: int = 1, **match: Any) -> dict[str, Any]:
        """Read until the `count`-th line of `type_` (with the fields in `match`); return it."""

        def found() -> list[dict[str, Any]]:
            return [
                ln
                for ln in self.lines
                if ln["type"] == type_ and all(ln.get(k) == v for k, v in match.items())
            ]

        assert self.process.stdout is not None
        while len(found()) < count:
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
            except TimeoutError:
                raise AssertionError(
                    f"no {count} {type_!r} line(s) {match} within {WAIT} s; got {self.lines}"
                ) from None
            if not raw:
                raise AssertionError(f"recovery-client.mjs ended; printed {self.lines}")
            self.lines.append(json.loads(raw))
        return found()[count - 1]

    def after(self, line: dict[str, Any]) -> list[dict[str, Any]]:
        return self.lines[self.lines.index(line) + 1 :]


@pytest.fixture
async def run_recovering(node: str) -> AsyncIterator[Any]:  # noqa: F811
    started: list[RecoveringClient] = []

    async def run(**options: Any) -> RecoveringClient:
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "recovery-client.mjs"),
            json.dumps(options),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        client = RecoveringClient(process)
        started.append(client)
        return client

    yield run
    for client in started:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.wait()


def realtime_of(server: LiveServer) -> RealtimeServer:
    assert server.services.realtime is not None
    return server.services.realtime


def user_events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ln for ln in lines if ln["type"] == "event" and ln["event"] in USER_EVENTS]


async def drop(server: LiveServer, client: RecoveringClient) -> None:
    """The client's network goes; wait until the server saw the transport close."""
    store = realtime_of(server).recovery
    assert isinstance(store, MemoryRecoveryStore)
    before = len(store)
    await client.send("drop")
    await client.until("disconnect")  # socket.io-client calls it "forced close"
    await wait_until(
        lambda: len(store) > before, timeout=WAIT, what="the dropped socket's state to be saved"
    )


async def fill(server: LiveServer, session_id: str, count: int) -> list[int]:
    orders = [
        await server.place_order(session_id, symbol="AAPL", side="buy", quantity=n + 1)
        for n in range(count)
    ]
    assert all(o["status"] == "filled" for o in orders)
    return [o["orderId"] for o in orders]


@pytest.mark.parametrize("batch", [False, True], ids=["quote:update", "quotes:update"])
async def test_a_dropped_js_socket_recovers_its_subscriptions_and_exactly_the_missed_fills(
    server: LiveServer, run_recovering: Any, batch: bool
) -> None:
    quotes = "quotes:update" if batch else "quote:update"
    session_id = await server.login()
    client = await run_recovering(url=server.url, sessionId=session_id, watch=["AAPL"], batch=batch)
    first = await client.until("connect")
    assert first["recovered"] is False
    await client.until("ready")
    [live_before] = await fill(server, session_id, 1)  # the client now holds an offset
    await client.until("event", event="portfolio:update")

    await drop(server, client)
    missed = await fill(server, session_id, 5)
    await client.send("reconnect")

    back = await client.until("connect", count=2)
    assert back["recovered"] is True and back["id"] == first["id"]
    await client.until("event", count=6, event="trade:executed")
    [live_after] = await fill(server, session_id, 1)
    await client.until("event", count=7, event="trade:executed")
    await client.until("event", count=7, event="portfolio:update")
    # the watchlist came back with the socket, in its mode: quotes without a new subscribe
    await client.until("event", count=3, event=quotes)

    since = client.after(back)
    assert [ln for ln in since if ln["type"] == "ack"] == []  # nothing was subscribed again
    trades = [ln["data"]["orderId"] for ln in since if ln.get("event") == "trade:executed"]
    assert trades == [*missed, live_after]  # exactly the missed ones, in order, then live
    replayed = user_events(since)
    assert [ln["event"] for ln in replayed] == ["trade:executed", "portfolio:update"] * 6
    every = user_events(client.lines)
    seqs = [ln["data"]["seq"] for ln in every]
    assert seqs == list(range(seqs[0], seqs[0] + 14))  # contiguous, no duplicate
    assert [ln["offset"] for ln in every] == [str(s) for s in seqs]
    assert len({ln["data"]["epoch"] for ln in every}) == 1
    assert every[0]["data"]["orderId"] == live_before
    # the latest quote of its symbol came after the missed events, before the live fill
    kinds = [ln.get("event") for ln in since]
    assert kinds.index(quotes) > kinds.index("portfolio:update")
    assert ("quotes:update" if not batch else "quote:update") not in kinds


async def test_after_the_window_a_js_socket_starts_afresh_and_the_rest_api_has_the_events(
    server: LiveServer, run_recovering: Any
) -> None:
    session_id = await server.login()
    client = await run_recovering(url=server.url, sessionId=session_id, watch=["AAPL"])
    await client.until("ready")
    await fill(server, session_id, 1)
    [seen] = [ln for ln in user_events(client.lines) if ln["event"] == "portfolio:update"] or [
        await client.until("event", event="portfolio:update")
    ]
    last_seq = seen["data"]["seq"]

    await drop(server, client)
    missed = await fill(server, session_id, 2)
    store = realtime_of(server).recovery
    assert isinstance(store, MemoryRecoveryStore)
    now = store.clock()
    store.clock = lambda: now + server.settings.recovery_window + 1  # the window has passed
    await client.send("reconnect")

    back = await client.until("connect", count=2)
    assert back["recovered"] is False
    await client.until("ready", count=2)  # subscribed again, with snapshots
    assert user_events(client.after(back)) == []  # nothing replayed over the socket
    async with server.http(session_id) as http:
        response = await http.get("/api/events", params={"after": last_seq})
    assert response.status_code == 200
    page = UserEventsPage.model_validate(response.json())
    assert [e.seq for e in page.events] == list(range(last_seq + 1, last_seq + 5))
    assert [e.event for e in page.events] == ["trade:executed", "portfolio:update"] * 2
    assert [e.data.order_id for e in page.events if e.event == "trade:executed"] == missed  # type: ignore[union-attr]
    assert page.has_more is False and page.epoch == seen["data"]["epoch"]


async def test_the_events_api_serves_only_the_users_own_events_in_pages(
    server: LiveServer,
) -> None:
    demo = await server.login()
    bob = await server.register("bob")
    await fill(server, demo, 3)
    async with server.http(bob) as http:
        nothing = (await http.get("/api/events")).json()
    assert (nothing["events"], nothing["lastSeq"], nothing["oldestSeq"]) == ([], 0, None)
    async with server.http(demo) as http:
        first = (await http.get("/api/events", params={"limit": 4})).json()
        rest = (await http.get("/api/events", params={"after": 4})).json()
        too_many = await http.get("/api/events", params={"limit": 10_000})
    async with server.http() as anonymous:
        assert (await anonymous.get("/api/events")).status_code == 401
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 4] and first["hasMore"] is True
    assert [e["seq"] for e in rest["events"]] == [5, 6] and rest["hasMore"] is False
    assert first["lastSeq"] == rest["lastSeq"] == 6  # where the history stands, either page
    assert too_many.status_code == 422


async def test_the_outbox_is_pruned_by_count_and_by_age(server: LiveServer) -> None:
    demo = await server.login()
    await fill(server, demo, 3)  # seq 1 to 6
    executor = server.services.executor

    assert await executor.prune_events(max_age=3600, keep=2) == 4
    async with server.http(demo) as http:
        kept = (await http.get("/api/events")).json()
    assert [e["seq"] for e in kept["events"]] == [5, 6] and kept["oldestSeq"] == 5

    assert await executor.prune_events(max_age=1e-9, keep=100) == 2
    await fill(server, demo, 1)  # the sequence goes on after a prune, in the same epoch
    async with server.http(demo) as http:
        after = (await http.get("/api/events")).json()
    assert [e["seq"] for e in after["events"]] == [7, 8] and after["epoch"] == kept["epoch"]


async def test_python_socketio_sees_seq_epoch_and_the_offset_on_user_events(
    server: LiveServer, connect: Connect
) -> None:
    session_id = await server.login()
    client = await connect(server, session_id)
    await fill(server, session_id, 1)
    rejected = await server.place_order(session_id, symbol="AAPL", side="sell", quantity=10**6)
    assert rejected["status"] == "rejected"
    [trade] = await client.wait_for("trade:executed")
    [portfolio] = await client.wait_for("portfolio:update")
    [failed] = await client.wait_for("trade:failed")
    assert [trade["seq"], portfolio["seq"], failed["seq"]] == [1, 2, 3]
    assert trade["epoch"] == portfolio["epoch"] == failed["epoch"] and len(trade["epoch"]) == 16
    assert client.offsets("trade:failed") == ["3"]


# ---------------------------------------------------------------- the store, in-process


def event(seq: int, epoch: str = "e1") -> LoggedEvent:
    return LoggedEvent(seq, epoch, "trade:executed", {"seq": seq})


def session(pid: str = "p1", seq: int = 0, epoch: str | None = "e1") -> SavedSession:
    return SavedSession(pid, "sid1", 1, "key", ["AAPL"], False, epoch, seq)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_store_returns_missed_events_in_order_once_each() -> None:
    store = MemoryRecoveryStore(window=60, log_size=10, clock=Clock())
    for seq in (1, 2, 4, 3, 3):  # one late, one twice
        await store.append(1, event(seq))
    assert [e.seq for e in await store.missed(1, "e1", 1) or []] == [2, 3, 4]
    assert await store.missed(1, "e1", 4) == []
    assert await store.missed(2, None, 0) == []  # another user: nothing of user 1's
    assert await store.missed(1, "other-epoch", 1) is None


async def test_the_store_keeps_log_size_events_and_refuses_a_gap() -> None:
    store = MemoryRecoveryStore(window=60, log_size=3, clock=Clock())
    for seq in range(1, 6):
        await store.append(1, event(seq))
    assert [e.seq for e in await store.missed(1, "e1", 2) or []] == [3, 4, 5]
    assert await store.missed(1, "e1", 1) is None  # 2 is gone: it cannot be answered whole


async def test_the_store_forgets_sessions_and_events_past_the_window() -> None:
    clock = Clock()
    store = MemoryRecoveryStore(window=60, log_size=100, clock=clock)
    await store.append(1, event(1))
    await store.save(session("old"))
    await store.save(session("taken"))
    assert await store.take("taken") is not None
    assert await store.take("taken") is None  # once only
    clock.now += 61
    assert await store.take("old") is None
    await store.save(session("new"))
    await store.prune()
    assert len(store) == 1
    assert await store.missed(1, "e1", 0) is None  # event 1 went with the window


async def test_a_new_epoch_starts_the_log_over() -> None:
    store = MemoryRecoveryStore(window=60, log_size=100, clock=Clock())
    await store.append(1, event(7, "old"))
    await store.append(1, event(1, "new"))
    assert [e.seq for e in await store.missed(1, "new", 0) or []] == [1]
    assert await store.missed(1, "old", 6) is None
