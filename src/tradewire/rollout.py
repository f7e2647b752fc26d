"""Real-time rollout: whether Socket.IO is on, and for which share of users.

The state is `{enabled, percent}`. A user is in the rollout when it is enabled and the user's
bucket is below `percent`; the bucket is a stable hash of the user id (SHA-256, not Python's
salted `hash()`) mod 100, so the same users stay in while the percent only grows, on every
instance and across restarts.

`RealtimeRollout` holds the state of this instance, changes it (an administrator's
`PUT /api/admin/realtime`) and tells its listeners (the realtime server, which disconnects the
sockets of users now outside). The stored value lives behind `RolloutStore`; a change is
announced on the instance bus (cluster/bus.py, channel `rollout`) so every instance re-reads it.

Start default: `REALTIME_ENABLED` / `REALTIME_ROLLOUT_PERCENT` until an administrator sets the
state once; from then on the stored value wins, on every instance and after restarts (with
Redis; in memory it lives as long as the process).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson
import redis.asyncio as aioredis

from tradewire.cluster.bus import Bus
from tradewire.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ROLLOUT_CHANNEL = "rollout"
"""Bus channel of rollout changes: `{"op": "changed"}`; every instance re-reads the store."""
DEFAULT_REDIS_KEY = "tradewire:realtime-rollout"
REFRESH_SECONDS = 5.0
"""In a cluster, how often each instance re-reads the stored state anyway: a change whose bus
message was lost (Redis restarting; the bus delivers at most once) is seen within this time."""
BUCKETS = 100


def bucket_of(user_id: int) -> int:
    """The user's rollout bucket, 0-99: the same on every process, run and machine."""
    digest = hashlib.sha256(f"realtime-rollout:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class RolloutState:
    enabled: bool
    percent: int

    def admits(self, user_id: int) -> bool:
        return self.enabled and bucket_of(user_id) < self.percent

    def to_json(self) -> bytes:
        return orjson.dumps({"enabled": self.enabled, "percent": self.percent})

    @classmethod
    def from_json(cls, raw: bytes | str) -> RolloutState | None:
        """The stored form; None when it is not a valid state."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        enabled, percent = data.get("enabled"), data.get("percent")
        if not isinstance(enabled, bool) or type(percent) is not int or not 0 <= percent <= 100:
            return None
        return cls(enabled, percent)


class RolloutStore(Protocol):
    """Where the rollout state an administrator set is kept.

    Contract, for both backends:
    - `load` returns the last state saved by any instance sharing the store, or None when none
      was ever saved (the instance then uses its settings); an undecodable value reads as None;
    - `save` replaces it; the last write wins (no merge, no history), no expiry;
    - what one node sees: the memory store holds what this process saved; the Redis store what
      any instance saved to the same key, as soon as `save` returns.
    """

    async def load(self) -> RolloutState | None: ...

    async def save(self, state: RolloutState) -> None: ...

    async def close(self) -> None: ...


class MemoryRolloutStore:
    """One process: the state lives as long as it does."""

    def __init__(self) -> None:
        self.state: RolloutState | None = None

    async def load(self) -> RolloutState | None:
        return self.state

    async def save(self, state: RolloutState) -> None:
        self.state = state

    async def close(self) -> None:
        return None


class RedisRolloutStore:
    """One Redis string, `key`: the state as JSON `{"enabled", "percent"}`."""

    def __init__(self, url: str, key: str = DEFAULT_REDIS_KEY) -> None:
        self.key = key
        self._redis = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)

    async def load(self) -> RolloutState | None:
        raw = await self._redis.get(self.key)
        return None if raw is None else RolloutState.from_json(raw)

    async def save(self, state: RolloutState) -> None:
        await self._redis.set(self.key, state.to_json())

    async def close(self) -> None:
        await self._redis.aclose()


def rollout_store_from_url(redis_url: str) -> MemoryRolloutStore | RedisRolloutStore:
    return RedisRolloutStore(redis_url) if redis_url else MemoryRolloutStore()


ChangeListener = Callable[[RolloutState], Awaitable[None] | None]


class RealtimeRollout:
    """This instance's view of the rollout, and the way to change it cluster-wide.

    `current` is read without I/O (every handshake asks). A change made on any instance
    reaches every instance through the bus at once, and within `REFRESH_SECONDS` when its bus
    message was lost (with a Redis store). Listeners run once per change of this instance's
    view, in order, on the event loop; a failing listener is logged and skipped."""

    def __init__(
        self, store: RolloutStore, bus: Bus, default: RolloutState, *, refresh: bool = False
    ) -> None:
        self.store = store
        self.bus = bus
        self.default = default
        self.current = default
        self._refresh = refresh
        self._listeners: list[ChangeListener] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def admits(self, user_id: int) -> bool:
        return self.current.admits(user_id)

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def start(self) -> None:
        """Read the stored state (a restarted instance gets the administrator's choice) and
        follow changes. A store that cannot be read leaves the settings' default."""
        self.bus.subscribe(ROLLOUT_CHANNEL, self._on_message)
        await self.reload()
        if self._refresh:
            self._task = asyncio.create_task(self._refresh_forever(), name="rollout-refresh")

    async def set(self, state: RolloutState) -> RolloutState:
        """Store the state and tell every instance; raises when the store cannot be written."""
        await self.store.save(state)
        await self._apply(state)
        try:
            await self.bus.publish(ROLLOUT_CHANNEL, {"op": "changed"})
        except Exception as exc:  # the others see it at their next refresh
            log.warning("rollout change not announced", extra={"error": repr(exc)})
        log.info("realtime rollout set", extra={"enabled": state.enabled, "percent": state.percent})
        return state

    async def reload(self) -> None:
        try:
            stored = await self.store.load()
        except Exception as exc:
            log.warning("rollout state not read", extra={"error": repr(exc)})
            return
        await self._apply(stored if stored is not None else self.default)

    async def close(self) -> None:
        self.bus.unsubscribe(ROLLOUT_CHANNEL, self._on_message)
        await cancel_and_wait(self._task)
        self._task = None
        await self.store.close()

    async def _on_message(self, message: dict[str, object]) -> None:
        if message.get("op") == "changed":
            await self.reload()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.reload()

    async def _apply(self, state: RolloutState) -> None:
        async with self._lock:
            if state == self.current:
                return
            self.current = state
            for listener in list(self._listeners):
                try:
                    result = listener(state)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("rollout listener failed")
