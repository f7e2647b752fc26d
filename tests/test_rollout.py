"""The real-time rollout's logic in-process: buckets, the state, both stores, the listeners."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tradewire.cluster.bus import MemoryBus
from tradewire.rollout import (
    MemoryRolloutStore,
    RealtimeRollout,
    RedisRolloutStore,
    RolloutState,
    RolloutStore,
    bucket_of,
)


def test_a_users_bucket_is_the_same_in_another_interpreter() -> None:
    """Not Python's salted `hash()`: a fresh process with another hash seed agrees."""
    ids = [1, 2, 3, 42, 1000, 987654321]
    code = f"from tradewire.rollout import bucket_of; print([bucket_of(i) for i in {ids}])"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        assert out.strip() == str([bucket_of(i) for i in ids])


def test_buckets_spread_users_evenly() -> None:
    counts = Counter(bucket_of(user_id) for user_id in range(1, 20_001))
    assert set(counts) == set(range(100))
    assert min(counts.values()) > 120 and max(counts.values()) < 280  # 200 expected each
    admitted = sum(RolloutState(True, 25).admits(u) for u in range(1, 20_001))
    assert 4_500 < admitted < 5_500


def test_raising_the_percent_only_adds_users() -> None:
    users = range(1, 2_001)
    previous: set[int] = set()
    for percent in (0, 1, 10, 50, 99, 100):
        inside = {u for u in users if RolloutState(True, percent).admits(u)}
        assert previous <= inside
        previous = inside
    assert previous == set(users)
    assert not any(RolloutState(False, 100).admits(u) for u in users)
    assert not any(RolloutState(True, 0).admits(u) for u in users)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"enabled": "true", "percent": 50}',
        b'{"enabled": true, "percent": 50.0}',
        b'{"enabled": true, "percent": 101}',
        b'{"enabled": true, "percent": true}',
        b'{"enabled": true}',
    ],
)
def test_a_stored_state_that_is_not_valid_reads_as_none(raw: bytes) -> None:
    assert RolloutState.from_json(raw) is None


def test_a_state_survives_its_stored_form() -> None:
    state = RolloutState(True, 37)
    assert RolloutState.from_json(state.to_json()) == state


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RolloutStore]:
    """Each contract test runs on both backends."""
    made: RolloutStore
    if request.param == "memory":
        made = MemoryRolloutStore()
    else:
        made = RedisRolloutStore(request.getfixturevalue("redis_url"), key="test:rollout")
    yield made
    await made.close()


async def test_a_store_keeps_the_last_state_saved(store: RolloutStore) -> None:
    assert await store.load() is None
    await store.save(RolloutState(False, 10))
    await store.save(RolloutState(True, 60))
    assert await store.load() == RolloutState(True, 60)


async def test_a_restarted_instance_reads_the_administrators_state(store: RolloutStore) -> None:
    default = RolloutState(True, 100)
    first = RealtimeRollout(store, MemoryBus(), default)
    await first.start()
    assert first.current == default
    await first.set(RolloutState(True, 30))
    again = RealtimeRollout(store, MemoryBus(), default)
    await again.start()
    assert again.current == RolloutState(True, 30)


async def test_listeners_hear_each_change_once() -> None:
    bus = MemoryBus()
    rollout = RealtimeRollout(MemoryRolloutStore(), bus, RolloutState(True, 100))
    heard: list[RolloutState] = []
    rollout.on_change(heard.append)
    await rollout.start()
    assert heard == []  # the start state is no change
    await rollout.set(RolloutState(False, 100))
    await rollout.set(RolloutState(False, 100))  # the same again: nothing to tell
    await rollout.set(RolloutState(True, 40))
    assert heard == [RolloutState(False, 100), RolloutState(True, 40)]
    assert rollout.admits(1) == (bucket_of(1) < 40)
    await rollout.close()


async def test_a_failing_listener_does_not_stop_the_change() -> None:
    rollout = RealtimeRollout(MemoryRolloutStore(), MemoryBus(), RolloutState(True, 100))

    def broken(_: RolloutState) -> None:
        raise RuntimeError("listener bug")

    heard: list[RolloutState] = []
    rollout.on_change(broken)
    rollout.on_change(heard.append)
    await rollout.set(RolloutState(False, 0))
    assert rollout.current == RolloutState(False, 0) and heard == [RolloutState(False, 0)]
