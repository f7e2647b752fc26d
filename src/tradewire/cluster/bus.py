"""The instance bus: small JSON messages from one instance to every instance (itself included).

Contract, for both backends:
- delivery is at most once: a message published while a subscriber is disconnected (Redis
  restarting) is lost for it; nothing is stored;
- messages from one publisher on one channel arrive in the order they were published;
- every subscriber of a channel, on every instance, the publisher's own included, gets each
  message; handlers run one at a time per bus, in arrival order, and a failing handler is
  logged and skipped;
- `flowing` is True while a heartbeat published through the bus came back recently, which is
  what readiness reports (a subscriber that silently stopped receiving turns it False);
- `subscriptions` counts the subscriber's (re)subscriptions: when it grows after the first,
  messages published in between may have been lost for this instance (the realtime server then
  fills its sockets' user events from the outbox).

`MemoryBus` is the single-process default; `RedisBus` uses Redis pub/sub and reconnects by
itself after Redis restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from tradewire.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]

HEARTBEAT_CHANNEL = "heartbeat"
HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_STALE_AFTER = 3.5
"""No heartbeat back for this long: the bus is not flowing."""


class Bus(Protocol):
    async def start(self) -> None: ...
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    def subscribe(self, channel: str, handler: Handler) -> None: ...
    def unsubscribe(self, channel: str, handler: Handler) -> None: ...
    @property
    def flowing(self) -> bool: ...
    @property
    def subscriptions(self) -> int: ...
    async def close(self) -> None: ...


class _Dispatch:
    """Subscriptions by channel and the handler calls, shared by both backends."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, channel: str, handler: Handler) -> None:
        self.handlers[channel].append(handler)

    def unsubscribe(self, channel: str, handler: Handler) -> None:
        with contextlib.suppress(ValueError):
            self.handlers[channel].remove(handler)

    async def deliver(self, channel: str, message: dict[str, Any]) -> None:
        for handler in list(self.handlers.get(channel, ())):
            try:
                result = handler(message)
                if result is not None:
                    await result
            except Exception:
                log.exception("bus handler failed", extra={"channel": channel})


class MemoryBus(_Dispatch):
    """One process: publish calls the handlers directly (in order, awaited)."""

    async def start(self) -> None:
        return None

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.deliver(channel, message)

    @property
    def flowing(self) -> bool:
        return True

    @property
    def subscriptions(self) -> int:
        return 1  # nothing is ever lost in one process

    async def close(self) -> None:
        return None


class RedisBus(_Dispatch):
    """Redis pub/sub on channels `{prefix}:{channel}`; one subscriber connection per instance."""

    def __init__(self, url: str, prefix: str = "tradewire:bus") -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.instance_id = uuid.uuid4().hex[:12]
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._last_heartbeat = 0.0
        self._subscribed = asyncio.Event()
        self._heartbeat_seen = asyncio.Event()
        self._closed = False
        self._subscriptions = 0

    async def start(self) -> None:
        """Subscribe, then start the heartbeat; waits (up to 5 s) for the first to come back."""
        self._tasks = [asyncio.create_task(self._listen_forever(), name="bus-listen")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)
        self._tasks.append(asyncio.create_task(self._heartbeat_forever(), name="bus-heartbeat"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heartbeat_seen.wait(), timeout=5)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Publish; raises on a Redis error (the caller decides whether that matters)."""
        await self._redis.publish(f"{self.prefix}:{channel}", orjson.dumps(message))

    @property
    def flowing(self) -> bool:
        return time.monotonic() - self._last_heartbeat < HEARTBEAT_STALE_AFTER

    @property
    def subscriptions(self) -> int:
        return self._subscriptions

    async def _listen_forever(self) -> None:
        delay = 0.2
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{self.prefix}:*")
                self._subscriptions += 1
                self._subscribed.set()
                delay = 0.2
                async for raw in pubsub.listen():
                    await self._on_raw(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "bus subscription lost; reconnecting",
                    extra={"error": repr(exc), "retry_in_s": delay},
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _on_raw(self, raw: dict[str, Any]) -> None:
        if raw.get("type") != "pmessage":
            return
        channel = raw["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        channel = channel.removeprefix(f"{self.prefix}:")
        try:
            message = orjson.loads(raw["data"])
        except orjson.JSONDecodeError:
            log.warning("bus message is not JSON; dropped", extra={"channel": channel})
            return
        if channel == HEARTBEAT_CHANNEL:
            if message.get("from") == self.instance_id:
                self._last_heartbeat = time.monotonic()
                self._heartbeat_seen.set()
            return
        await self.deliver(channel, message)

    async def _heartbeat_forever(self) -> None:
        while not self._closed:
            try:
                await self.publish(HEARTBEAT_CHANNEL, {"from": self.instance_id})
            except Exception as exc:
                log.debug("bus heartbeat not sent", extra={"error": repr(exc)})
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        await self._redis.aclose()


def bus_from_url(redis_url: str) -> MemoryBus | RedisBus:
    return RedisBus(redis_url) if redis_url else MemoryBus()
