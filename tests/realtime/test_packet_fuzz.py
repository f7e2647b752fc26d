"""A packet fuzzer against the real process (hypothesis): random and malformed Engine.IO and
Socket.IO packets and event payloads, over WebSocket and long-polling.

Each case opens a fresh connection of a logged-in user, sends its frames, then a probe (an event
with an ack id). The server must either answer the probe's ack or close that connection; it
never crashes or answers 500, `/healthz` stays up, a bystander's acks keep coming, and the
server's RSS stays bounded over the whole run. The number of cases is printed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import ServiceProcess
from tests.realtime.clients import WAIT, Client
from tests.realtime.raw import RawClient, connected_client
from tests.realtime.test_flood import register
from tests.realtime.test_lifecycle import login, service_env

WEBSOCKET_CASES = 300
POLLING_CASES = 150
RSS_BOUND_MB = 96.0
EVENTS = [
    "subscribe:portfolio",
    "subscribe:trades",
    "subscribe:watchlist",
    "unsubscribe:watchlist",
    "subscribe:ops",
    "unsubscribe:ops",
]
PROBE = '42999["fuzz:probe"]'

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"symbols": st.one_of(json_values, st.lists(st.text(max_size=8), max_size=80))},
        optional={"batch": json_values},
    ),
)
events = st.builds(
    lambda name, args, ack: "42" + ("" if ack is None else str(ack)) + json.dumps([name, *args]),
    st.one_of(st.sampled_from(EVENTS), st.text(max_size=70)),
    st.lists(payloads, max_size=3),
    st.none() | st.integers(min_value=0, max_value=2**40),
)
engine_io = st.one_of(
    st.text(max_size=200),  # anything at all
    st.sampled_from(["", "0", "1", "2", "3", "5", "6", "7", "9", "2probe", "40", "41", "44", "46"]),
    st.builds(lambda t, rest: t + rest, st.sampled_from(list("0123456789")), st.text(max_size=60)),
    events,
    st.builds(lambda n: "43" + str(n) + "[]", st.integers(min_value=0, max_value=2**60)),
    st.builds(lambda d: '42["subscribe:watchlist",' + deep(d) + "]", st.integers(1, 5000)),
    st.builds(
        lambda n: "451-" + json.dumps(["x", {"_placeholder": True, "num": n}]), st.integers(-5, 20)
    ),
    st.builds(
        lambda n: '42["subscribe:watchlist",{"symbols":["' + "A" * n + '"]}]',
        st.integers(0, 70_000),
    ),
)


class Frame:
    """One WebSocket frame of a case: text (maybe not UTF-8) or binary."""

    def __init__(self, data: bytes, binary: bool) -> None:
        self.data, self.binary = data, binary

    def __repr__(self) -> str:
        return (
            f"Frame({self.data[:80]!r}{'...' if len(self.data) > 80 else ''}, binary={self.binary})"
        )


frames = st.one_of(
    engine_io.map(lambda t: Frame(t.encode(), False)),
    st.binary(max_size=300).map(lambda b: Frame(b, True)),
    st.binary(min_size=1, max_size=50).map(
        lambda b: Frame(b"4" + b + b"\xff\xfe", False)
    ),  # bad UTF-8
)
acks_by_the_thousand = st.integers(min_value=500, max_value=3000).map(
    lambda n: [Frame(f"43{i}[null]".encode(), False) for i in range(n)]
)
cases = st.one_of(st.lists(frames, min_size=1, max_size=8), acks_by_the_thousand)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def answered_or_closed(client: RawClient) -> str:
    """After a case: the probe's ack came ("ack"), or the server closed the connection."""
    try:
        client.send(PROBE)
        client.read_until(lambda t: t.startswith("43999"), "the probe's ack")
        return "ack"
    except AssertionError as exc:
        if client.closed:
            return "closed"
        raise exc
    except (BrokenPipeError, ConnectionResetError):
        return "closed"


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    env = service_env(MARKET_TICK_RATE="2")
    with ServiceProcess(env, log_level="warning") as running:
        yield running


@pytest.mark.slow
def test_random_websocket_packets_never_hurt_the_server(service: ServiceProcess) -> None:
    assert service.pid is not None
    session_id = asyncio.run(login(service.url))
    rss_before = rss_mb(service.pid)
    outcomes: dict[str, int] = {}
    started = time.monotonic()

    @settings(
        max_examples=WEBSOCKET_CASES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases)
    def one_case(case: list[Frame]) -> None:
        client = connected_client(service.port, session_id)
        try:
            for frame in case:
                if client.closed:
                    break
                try:
                    client.send_frame(frame.data, binary=frame.binary)
                except (BrokenPipeError, ConnectionResetError):
                    client.closed = True
            outcome = "closed" if client.closed else answered_or_closed(client)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            client.close()
        assert httpx.get(f"{service.url}/healthz", timeout=WAIT).status_code == 200

    one_case()
    rss_after = rss_mb(service.pid)
    print(
        f"\n{sum(outcomes.values())} WebSocket cases in {time.monotonic() - started:.0f} s: "
        f"{outcomes}; server RSS {rss_before:.1f} -> {rss_after:.1f} MB"
    )
    assert sum(outcomes.values()) == WEBSOCKET_CASES
    assert rss_after - rss_before < RSS_BOUND_MB
    service_still_serves(service)


polling_bodies = st.one_of(
    st.binary(max_size=2000),
    st.lists(engine_io, min_size=1, max_size=10).map(lambda ps: "\x1e".join(ps).encode()),
    st.lists(st.binary(max_size=40), min_size=1, max_size=5).map(
        lambda bs: b"\x1e".join(b"b" + b for b in bs)
    ),
)


@pytest.mark.slow
def test_random_long_polling_bodies_never_hurt_the_server(service: ServiceProcess) -> None:
    assert service.pid is not None
    session_id = asyncio.run(login(service.url))
    statuses: dict[int, int] = {}
    endpoint = f"{service.url}/socket.io/"

    with httpx.Client(timeout=WAIT) as http:

        def open_session() -> str:
            r = http.get(endpoint, params={"EIO": "4", "transport": "polling"})
            assert r.status_code == 200, r.text
            sid = json.loads(r.text[1:])["sid"]
            body = "40" + json.dumps({"sessionId": session_id})
            assert http.post(endpoint, params={"EIO": "4", "transport": "polling", "sid": sid},
                             content=body).status_code == 200  # fmt: skip
            return str(sid)

        @settings(max_examples=POLLING_CASES, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
        @given(
            body=polling_bodies,
            content_type=st.sampled_from(["text/plain", "application/octet-stream"]),
        )
        def one_case(body: bytes, content_type: str) -> None:
            sid = open_session()
            params = {"EIO": "4", "transport": "polling", "sid": sid}
            r = http.post(
                endpoint, params=params, content=body, headers={"content-type": content_type}
            )
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (r.status_code, r.text)
            # the session goes on (the probe is answered) or is gone (400, an Engine.IO error)
            probe = http.post(endpoint, params=params, content=PROBE.encode())
            assert probe.status_code in (200, 400), (probe.status_code, probe.text)
            if probe.status_code == 200:
                poll = http.get(endpoint, params=params)
                assert poll.status_code in (200, 400), (poll.status_code, poll.text)
                if poll.status_code == 200 and "43999" not in poll.text:  # an earlier reply first
                    poll = http.get(endpoint, params=params)
                    assert poll.status_code in (200, 400), (poll.status_code, poll.text)
                http.post(endpoint, params=params, content=b"1")  # close it

        one_case()
    print(f"\n{sum(statuses.values())} long-polling cases: statuses {statuses}")
    assert sum(statuses.values()) == POLLING_CASES
    service_still_serves(service)


def service_still_serves(service: ServiceProcess) -> None:
    """Health, and a fresh user's socket served: an ack and its quotes."""

    async def check() -> Any:
        bystander = await Client().connect(
            service.url, await register(service.url, f"u{time.time_ns()}")
        )
        try:
            ack = await bystander.call("subscribe:watchlist", {"symbols": ["AAPL"]})
            assert ack["ok"], ack
            return ack
        finally:
            await bystander.close()

    assert httpx.get(f"{service.url}/healthz", timeout=WAIT).status_code == 200
    asyncio.run(check())
