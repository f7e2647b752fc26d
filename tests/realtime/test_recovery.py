"""Connection-state recovery with the stock socket.io-client 4.7.5 against a live server: a
socket whose network drops comes back `recovered`, with its subscriptions and exactly the user
events it missed, in order; after the window it does not, and `GET /api/events` has them. Also
the user events' `seq` / `epoch` seen by python-socketio, and the recovery store in-process."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.exceptions

from tests.harness.waiting import wait_until
from tests.realtime.conftest import Connect
from tests.realtime.test_js_client import JS_DIR, node  # noqa: F401 (the fixture)
from tests.support import LiveServer
from tradewire.cluster.bus import Bus, MemoryBus
from tradewire.realtime.recovery import (
    LoggedEvent,
    MemoryRecoveryStore,
    RecoveryStore,
    RedisRecoveryStore,
    SavedSession,
    SentEvents,
    recovery_store_from_url,
)
from tradewire.realtime.server import GAP_GRACE, RealtimeServer
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


class UnreachableStore(MemoryRecoveryStore):
    """A recovery store whose backend is down (as a Redis restarting is)."""

    async def take(self, pid: str) -> SavedSession | None:
        raise redis.exceptions.ConnectionError("Connection refused")


async def test_with_the_store_unreachable_a_js_socket_connects_afresh_with_snapshots(
    server: LiveServer, run_recovering: Any
) -> None:
    session_id = await server.login()
    client = await run_recovering(url=server.url, sessionId=session_id, watch=["AAPL"])
    await client.until("ready")
    await drop(server, client)
    realtime = realtime_of(server)
    realtime.recovery = UnreachableStore(60, 10)
    await client.send("reconnect")

    back = await client.until("connect", count=2)
    assert back["recovered"] is False
    await client.until("ready", count=2)  # subscribed again: snapshots, then live quotes
    acks = [ln for ln in client.after(back) if ln["type"] == "ack"]
    assert [a["event"] for a in acks] == [
        "subscribe:portfolio",
        "subscribe:trades",
        "subscribe:watchlist",
    ]
    assert all(a["data"]["ok"] for a in acks)
    quotes = [ln for ln in client.lines if ln.get("event") == "quote:update"]
    await client.until("event", event="quote:update", count=len(quotes) + 2)  # live


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


StoreFactory = Callable[..., Awaitable[RecoveryStore]]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Each test that takes this runs on both backends: the same contract."""
    made: list[RecoveryStore] = []

    async def make(window: float = 60, log_size: int = 10) -> RecoveryStore:
        if request.param == "memory":
            store: RecoveryStore = MemoryRecoveryStore(window, log_size, clock=Clock())
        else:
            store = recovery_store_from_url(request.getfixturevalue("redis_url"), window, log_size)
            assert isinstance(store, RedisRecoveryStore)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


async def test_the_store_returns_missed_events_in_order_once_each(make_store: StoreFactory) -> None:
    store = await make_store()
    for seq in (1, 2, 4, 3, 3):  # one late, one twice
        await store.append(1, event(seq))
    assert [e.seq for e in await store.missed(1, "e1", 1) or []] == [2, 3, 4]
    assert await store.missed(1, "e1", 4) == []
    assert await store.missed(2, None, 0) == []  # another user: nothing of user 1's
    assert await store.missed(1, "other-epoch", 1) is None
    [first] = [e for e in await store.missed(1, "e1", 0) or [] if e.seq == 1]
    assert (first.epoch, first.event, first.data) == ("e1", "trade:executed", {"seq": 1})


async def test_the_store_keeps_log_size_events_and_refuses_a_gap(make_store: StoreFactory) -> None:
    store = await make_store(log_size=3)
    for seq in range(1, 6):
        await store.append(1, event(seq))
    assert [e.seq for e in await store.missed(1, "e1", 2) or []] == [3, 4, 5]
    assert await store.missed(1, "e1", 1) is None  # 2 is gone: it cannot be answered whole


async def test_a_saved_session_is_taken_once_whole(make_store: StoreFactory) -> None:
    store = await make_store()
    saved = session("p1", seq=4)
    await store.save(saved)
    taken = await store.take("p1")
    assert taken is not None
    assert (taken.sid, taken.user_id, taken.session_key, taken.symbols, taken.batch) == (
        "sid1",
        1,
        "key",
        ["AAPL"],
        False,
    )
    assert (taken.epoch, taken.seq) == ("e1", 4)
    assert await store.take("p1") is None  # once only
    assert await store.take("never-saved") is None


async def test_sessions_saved_together_are_each_taken_once(make_store: StoreFactory) -> None:
    """`save_many` (what a drop of many sockets uses: one Redis pipeline) keeps each session as
    `save` would."""
    store = await make_store()
    await store.save_many([session(f"p{n}", seq=n) for n in range(3)])
    taken = [await store.take(f"p{n}") for n in (2, 0, 1)]
    assert [t.seq if t else None for t in taken] == [2, 0, 1]
    assert [await store.take(f"p{n}") for n in range(3)] == [None, None, None]


async def test_the_redis_store_is_shared_and_forgets_past_the_window(redis_url: str) -> None:
    """Two instances' stores on one Redis: what one saved and logged, the other answers. A
    window later the session, the log and so the recovery are gone."""
    window = 0.3
    one = RedisRecoveryStore.from_url(redis_url, window=window, log_size=10)
    other = RedisRecoveryStore.from_url(redis_url, window=window, log_size=10)
    try:
        await one.append(1, event(1))
        await other.append(1, event(2))
        await one.save(session("p1", seq=0))
        assert [e.seq for e in await other.missed(1, "e1", 0) or []] == [1, 2]
        assert await other.take("p1") is not None and await one.take("p1") is None
        await one.save(session("p2", seq=0))
        await asyncio.sleep(window + 0.2)
        assert await other.take("p2") is None
        assert await other.missed(1, "e1", 0) is None  # the log went, the head stays
        assert await other.missed(1, "e1", 2) == []  # nothing after 2 was ever logged
    finally:
        await one.close()
        await other.close()


async def test_an_unreachable_redis_store_raises_for_the_caller_to_handle() -> None:
    store = RedisRecoveryStore.from_url("redis://127.0.0.1:1", window=60, log_size=10)
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.take("p1")
    finally:
        await store.close()


def test_the_store_is_picked_by_url() -> None:
    assert isinstance(recovery_store_from_url("", 60, 10), MemoryRecoveryStore)
    assert isinstance(
        recovery_store_from_url("redis://localhost:6379/0", 60, 10), RedisRecoveryStore
    )
    with pytest.raises(ValueError, match="unsupported recovery store URL"):
        recovery_store_from_url("memcached://x", 60, 10)


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


async def test_a_new_epoch_starts_the_log_over(make_store: StoreFactory) -> None:
    store = await make_store(log_size=100)
    await store.append(1, event(7, "old"))
    await store.append(1, event(1, "new"))
    assert [e.seq for e in await store.missed(1, "new", 0) or []] == [1]
    assert await store.missed(1, "old", 6) is None


# ---------------------------------------------------------------- pushes lost on the bus


class LossyBus(MemoryBus):
    """The instance bus losing messages silently, as Redis pub/sub does for a subscriber that
    is reconnecting: `lose` user pushes are dropped; `resubscribe()` counts a resubscription."""

    def __init__(self, inner: Bus) -> None:
        super().__init__()
        self.inner = inner
        self.lose = 0
        self.fail = 0
        self.count = inner.subscriptions

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        if channel == "user-events" and self.lose > 0:
            self.lose -= 1
            return
        if channel == "user-events" and self.fail > 0:
            self.fail -= 1
            raise redis.exceptions.ConnectionError("Connection refused")
        await self.inner.publish(channel, message)

    @property
    def subscriptions(self) -> int:
        return self.count


def user_event_seqs(client: Any) -> list[int]:
    return sorted(data["seq"] for s in client.seen if s.name in USER_EVENTS for data in [s.data])


async def test_a_push_lost_on_the_bus_is_sent_from_the_outbox_once_a_later_one_shows_the_gap(
    server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(server)
    bus = realtime.bus = LossyBus(realtime.bus)
    session_id = await server.login()
    client = await connect(server, session_id)
    bus.lose = 2  # the first fill's trade:executed and portfolio:update
    await fill(server, session_id, 2)
    await client.wait_for("trade:executed", count=2, timeout=GAP_GRACE + WAIT)
    await client.wait_for("portfolio:update", count=2)
    assert user_event_seqs(client) == [1, 2, 3, 4]  # each once: 3 and 4 live, 1 and 2 filled
    assert sorted(int(o) for n in USER_EVENTS for o in client.offsets(n)) == [1, 2, 3, 4]
    first = [s.name for s in client.seen if s.name in USER_EVENTS]
    assert first[:2] == ["trade:executed", "portfolio:update"]  # the live ones, seq 3 and 4


async def test_after_the_bus_resubscribed_every_socket_gets_what_it_missed(
    server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(server)
    bus = realtime.bus = LossyBus(realtime.bus)
    session_id = await server.login()
    tab, phone = await connect(server, session_id), await connect(server, session_id)
    bus.lose = 2  # the last fill's pushes: no later event shows the gap
    await fill(server, session_id, 1)
    bus.count += 1  # the subscriber reconnected: what was published meanwhile is lost
    for client in (tab, phone):
        [trade] = await client.wait_for("trade:executed")
        await client.wait_for("portfolio:update")
        assert user_event_seqs(client) == [1, 2] and trade["seq"] == 1


class SlowToLog(MemoryRecoveryStore):
    """A recovery store a network away: each append takes a while, `trade:executed`'s longest
    (a reply that comes back later than the next one's)."""

    async def append(self, user_id: int, event: LoggedEvent) -> None:
        await asyncio.sleep(0.05 if event.event == "trade:executed" else 0.001)
        await super().append(user_id, event)


async def test_a_users_events_go_out_in_their_order_when_logging_them_takes_time(
    server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(server)
    realtime.recovery = SlowToLog(60, 100)
    session_id = await server.login()
    client = await connect(server, session_id)
    await fill(server, session_id, 3)
    await client.wait_for("portfolio:update", count=3)
    seqs = [s.data["seq"] for s in client.seen if s.name in USER_EVENTS]
    assert seqs == [1, 2, 3, 4, 5, 6]  # trade:executed, portfolio:update, in turn


async def test_a_user_event_whose_publish_failed_reaches_the_sockets_from_the_outbox(
    server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(server)
    bus = realtime.bus = LossyBus(realtime.bus)
    session_id = await server.login()
    client = await connect(server, session_id)
    bus.fail = 2  # the fill's pushes: publishing them raised (Redis down)
    await fill(server, session_id, 1)
    [trade] = await client.wait_for("trade:executed")
    await client.wait_for("portfolio:update")
    assert user_event_seqs(client) == [1, 2] and trade["seq"] == 1


def test_sent_events_sends_each_once_and_tracks_gaps() -> None:
    sent = SentEvents("e1", 4)
    assert sent.note("e1", 5, now=10) and not sent.note("e1", 5, now=10)
    assert not sent.note("e1", 3, now=10)  # the history before the connect
    assert sent.note("e1", 7, now=11) and sent.gap_since == 11  # 6 is missing
    assert sent.note("e1", 8, now=12) and sent.gap_since == 11
    assert sent.note("e1", 6, now=13) and (sent.floor, sent.gap_since) == (8, None)
    assert sent.note("e2", 3, now=14) and (sent.epoch, sent.floor) == ("e2", 0)  # a new history
    unknown = SentEvents(known=False)  # where the socket started is not known: its first event
    assert unknown.note("e1", 40, now=0) and unknown.floor == 40 and unknown.gap_since is None
    fresh = SentEvents(None, 0)  # a user with no event yet: the history from its start
    assert fresh.note("e1", 2, now=5) and fresh.gap_since == 5
