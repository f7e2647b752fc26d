"""Rate limits per user and event kind, and the flood guard that disconnects a socket whose
events keep being refused. What a user sees: an ack `RATE_LIMITED` with `retryAfterMs`, a
`rate_limited` event, and, when they keep going, a server-side disconnect."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from limits import RateLimitItem

from tests.harness.waiting import clear_of_a_minute_edge, wait_until
from tests.realtime.clients import WAIT, metric
from tests.realtime.conftest import Connect
from tests.support import LiveServer
from tradewire.realtime import limits
from tradewire.realtime.limits import (
    ABUSE_MAX_REJECTED,
    ABUSE_WINDOW_SECONDS,
    MAX_TRACKED_EVENT_NAME,
    EventGuard,
)
from tradewire.realtime.server import RealtimeServer


def realtime_of(server: LiveServer) -> RealtimeServer:
    assert server.services.realtime is not None
    return server.services.realtime


def warnings_named(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


# ---------------------------------------------------------------- over the transport


async def test_an_event_over_its_limit_is_refused_with_a_retry_delay(
    server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect(server, await server.login())
    refused_before = metric("tradewire_socket_rate_limited_total", event="subscribe:portfolio")
    await clear_of_a_minute_edge()

    with caplog.at_level(logging.INFO, logger="tradewire.realtime"):
        acks = [await client.call("subscribe:portfolio") for _ in range(35)]

    assert all(a["ok"] for a in acks[:30])  # SUBSCRIBE_PORTFOLIO_LIMIT = "30/minute"
    for ack in acks[30:]:
        assert ack["ok"] is False
        assert ack["error"]["code"] == "RATE_LIMITED"
        assert 0 < ack["error"]["retryAfterMs"] <= 60_000
    notices = await client.wait_for("rate_limited", count=5)
    assert [n["event"] for n in notices] == ["subscribe:portfolio"] * 5
    assert [n["retryAfterMs"] for n in notices] == [a["error"]["retryAfterMs"] for a in acks[30:]]
    # every refusal is counted, the warning is logged once for the user
    assert (
        metric("tradewire_socket_rate_limited_total", event="subscribe:portfolio")
        == refused_before + 5
    )
    [warning] = warnings_named(caplog, "rate limit exceeded")
    assert warning.levelno == logging.WARNING
    assert (warning.user_id, warning.event) == (1, "subscribe:portfolio")  # type: ignore[attr-defined]
    assert client.sio.connected


async def test_the_limit_is_per_user_and_per_event_kind(
    server: LiveServer, connect: Connect
) -> None:
    demo = await server.login()
    first, second = await connect(server, demo), await connect(server, demo)
    bob = await connect(server, await server.register("bob"))
    await clear_of_a_minute_edge()
    for _ in range(30):
        assert (await first.call("subscribe:portfolio"))["ok"]

    # the same user on another socket shares the limit...
    assert (await second.call("subscribe:portfolio"))["error"]["code"] == "RATE_LIMITED"
    await second.wait_for("rate_limited")
    assert first.of("rate_limited") == []  # the notice goes to the socket that sent the event
    # ...but not for other event kinds, and other users are not affected
    assert (await second.call("subscribe:trades"))["ok"]
    assert (await bob.call("subscribe:portfolio"))["ok"]


async def test_unknown_events_share_one_limit_and_long_names_are_cut(
    server: LiveServer, connect: Connect
) -> None:
    client = await connect(server, await server.login())
    name = "z" * 300
    await clear_of_a_minute_edge()
    acks = [await client.call(name if i % 2 else f"nope:{i}") for i in range(121)]

    assert [a["error"]["code"] for a in acks[:120]] == ["UNKNOWN_EVENT"] * 120  # "120/minute"
    assert acks[120]["error"]["code"] == "RATE_LIMITED"
    [notice] = await client.wait_for("rate_limited")
    assert notice["event"] == f"nope:{120}"
    assert (await client.call(name))["error"]["code"] == "RATE_LIMITED"
    [_, long_notice] = await client.wait_for("rate_limited", count=2)
    assert long_notice["event"] == "z" * MAX_TRACKED_EVENT_NAME
    assert (await client.call("subscribe:trades"))["ok"]  # known events have their own limits


async def test_a_socket_that_floods_is_disconnected_and_others_are_served(
    server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 events as fast as python-socketio sends them, over a real websocket."""
    session_id = await server.login()
    flooder = await connect(server, session_id)
    bystander = await connect(server, await server.register("bob"))
    floods = metric("tradewire_socket_flood_disconnects_total")

    with caplog.at_level(logging.INFO, logger="tradewire.realtime"):
        sent = 0
        for _ in range(10_000):
            if not flooder.sio.connected:
                break
            await flooder.sio.emit("subscribe:portfolio")
            sent += 1
        reason = await flooder.wait_disconnected()

    assert reason == flooder.sio.reason.SERVER_DISCONNECT
    assert len(flooder.of("rate_limited")) >= 1
    assert metric("tradewire_socket_flood_disconnects_total") == floods + 1
    assert len(warnings_named(caplog, "socket disconnected for flooding")) == 1
    assert realtime_of(server).sockets.keys() == {bystander.sio.get_sid()}
    assert (await bystander.call("subscribe:portfolio"))["ok"]
    print(
        f"\nflood in-process: sent {sent} events, "
        f"{len(flooder.of('rate_limited'))} rate_limited notices before the disconnect"
    )


async def test_a_burst_handled_before_the_disconnect_lands_disconnects_once(
    server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """Events already queued when the flood threshold is reached (a burst in one read, a
    polling payload) must not each count as another flood disconnect."""
    flooder = await connect(server, await server.login())
    realtime = realtime_of(server)
    sid = flooder.sio.get_sid()
    floods = metric("tradewire_socket_flood_disconnects_total")
    allowed = 120  # DEFAULT_EVENT_LIMIT
    burst = allowed + ABUSE_MAX_REJECTED + 80
    await clear_of_a_minute_edge()

    with caplog.at_level(logging.WARNING, logger="tradewire.realtime"):
        acks = await asyncio.gather(*(realtime.handle_event(sid, "spam") for _ in range(burst)))
        await flooder.wait_disconnected()

    codes = [a["error"]["code"] for a in acks if a is not None]
    assert codes.count("RATE_LIMITED") == burst - allowed
    assert metric("tradewire_socket_flood_disconnects_total") == floods + 1
    assert len(warnings_named(caplog, "socket disconnected for flooding")) == 1
    assert len(warnings_named(caplog, "rate limit exceeded")) == 1


async def test_events_of_a_socket_that_is_gone_are_ignored(
    server: LiveServer, connect: Connect
) -> None:
    client = await connect(server, await server.login())
    realtime = realtime_of(server)
    sid = client.sio.get_sid()
    await client.close()
    await wait_until(
        lambda: sid not in realtime.sockets, timeout=WAIT, what="the server to forget the socket"
    )
    assert await realtime.handle_event(sid, "subscribe:portfolio") is None


# ---------------------------------------------------------------- the guard in isolation


class ScriptedLimiter:
    """Stands in for `RateLimiter`: allows the first `allow` hits, then refuses each further
    hit for `retry_ms` (as a sliding window does for a user who keeps going)."""

    def __init__(self, allow: int, retry_ms: int) -> None:
        self.allow, self.retry_ms, self.hits = allow, retry_ms, 0

    async def hit(self, item: RateLimitItem, *keys: str) -> int | None:
        self.hits += 1
        return None if self.hits <= self.allow else self.retry_ms


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock for `tradewire.realtime.limits` alone (the event loop keeps the real one)."""
    fake = Clock()
    monkeypatch.setattr(limits, "time", SimpleNamespace(monotonic=fake))
    return fake


async def test_sustained_abuse_is_logged_once_per_window_and_every_refusal_counted(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = ScriptedLimiter(allow=30, retry_ms=500)
    guard = EventGuard(limiter)  # type: ignore[arg-type]
    counted = metric("tradewire_socket_rate_limited_total", event="subscribe:trades")

    with caplog.at_level(logging.WARNING, logger="tradewire.realtime"):
        results = []
        for _ in range(120):  # one event every 0.5 s for a minute
            results.append(await guard.check(7, "subscribe:trades"))
            clock.now += 0.5
        assert len(warnings_named(caplog, "rate limit exceeded")) == 1
        clock.now += 15.5  # a minute after the first warning: the "30/minute" window is over
        await guard.check(7, "subscribe:trades")

    assert results[:30] == [None] * 30
    assert all(r is not None and r > 0 for r in results[30:])
    assert metric("tradewire_socket_rate_limited_total", event="subscribe:trades") == counted + 91
    assert len(warnings_named(caplog, "rate limit exceeded")) == 2


async def test_a_blocked_user_is_refused_without_asking_the_storage(clock: Clock) -> None:
    limiter = ScriptedLimiter(allow=0, retry_ms=2000)
    guard = EventGuard(limiter)  # type: ignore[arg-type]
    assert await guard.check(1, "subscribe:portfolio") == 2000
    clock.now += 0.5
    assert await guard.check(1, "subscribe:portfolio") == 1500
    assert limiter.hits == 1
    clock.now += 1.6
    await guard.check(1, "subscribe:portfolio")
    assert limiter.hits == 2  # the block ran out: the storage decides again


def test_the_flood_guard_counts_refusals_per_socket_within_a_window(clock: Clock) -> None:
    guard = EventGuard(ScriptedLimiter(0, 1))  # type: ignore[arg-type]
    verdicts = [guard.record_rejection("a") for _ in range(ABUSE_MAX_REJECTED - 1)]
    assert not any(verdicts)
    assert guard.record_rejection("b") is False  # another socket has its own count
    clock.now += ABUSE_WINDOW_SECONDS + 0.1  # a new window: the count starts again
    assert not any(guard.record_rejection("a") for _ in range(ABUSE_MAX_REJECTED - 1))
    assert guard.record_rejection("a") is True
    assert guard.record_rejection("a") is False  # asked once, not again per event
    guard.forget("a")
    assert "a" not in guard._abuse


async def test_prune_drops_what_has_expired(clock: Clock) -> None:
    guard = EventGuard(ScriptedLimiter(0, 1000))  # type: ignore[arg-type]
    await guard.check(1, "subscribe:portfolio")
    await guard.check(2, "anything")
    clock.now += 2
    guard.prune()
    assert guard._blocked == {}
    assert len(guard._quiet_until) == 2  # the log silence lasts the whole window
    clock.now += 60
    guard.prune()
    assert guard._quiet_until == {}
