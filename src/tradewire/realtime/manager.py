"""The Socket.IO client manager: in memory for one process, Redis pub/sub for a cluster.

Both deliver to this instance's sockets through `DirectManager.emit`: python-socketio's own
starts one task per recipient and waits for them all; this one encodes the packet once and
hands it to each recipient's writer (`QuoteFanout.write`: straight to the WebSocket when its
Engine.IO writer is idle, else Engine.IO's queue), without a task. An order's
`trade:executed` and `portfolio:update` to a user's sockets go this way, locally or after the
Redis hop.

`HeartbeatRedisManager` is python-socketio's `AsyncRedisManager` plus a heartbeat: every second
it publishes a message through the very channel the manager listens on, and notes when it comes
back. `flowing` turns False when heartbeats stop coming back, which `/readyz` reports: a worker
whose pub/sub listener silently stopped is taken out of the load balancer instead of dropping
every cross-instance event for hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import socketio
from socketio import packet

from tradewire.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HEARTBEAT_EVENT = "tradewire:heartbeat"
HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_STALE_AFTER = 3.5


Writer = Callable[..., int]
"""`writer(eio_sid, *messages)`: write Engine.IO messages to one socket, in order, never
waiting; returns how many were written (`QuoteFanout.write`)."""


class DirectManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's in-memory manager with a task-free local emit once `writer` is set."""

    writer: Writer | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        writer = self.writer
        if writer is None or callback is not None or namespace not in self.rooms:
            # acks need a packet per recipient (their ids differ): python-socketio's way
            await super().emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        if isinstance(encoded, list):  # binary attachments: several Engine.IO packets
            await super().emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)
            return
        message = b"4" + encoded.encode()  # an Engine.IO MESSAGE
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        for sid, eio_sid in self.get_participants(namespace, to or room):  # a copy already
            if sid not in skip:
                writer(eio_sid, message)


def make_manager(redis_url: str) -> DirectManager:
    if redis_url:
        return HeartbeatRedisManager(redis_url)
    return DirectManager()


class HeartbeatRedisManager(socketio.AsyncRedisManager, DirectManager):  # type: ignore[misc]
    """Redis pub/sub to every instance; each delivers to its own sockets with `DirectManager`."""

    def __init__(self, url: str, channel: str = "tradewire:socketio") -> None:
        super().__init__(url, channel=channel)
        self._last_heartbeat = 0.0
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._heartbeat_stopping = False

    @property
    def flowing(self) -> bool:
        return time.monotonic() - self._last_heartbeat < HEARTBEAT_STALE_AFTER

    def start_heartbeat(self) -> None:
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(
                self._heartbeat_forever(), name="socketio-heartbeat"
            )

    async def close(self) -> None:
        """Stop the heartbeat and the listener, and close the Redis connections."""
        if self._heartbeat_task is not None:
            self._heartbeat_stopping = True
            await cancel_and_wait(self._heartbeat_task)
            self._heartbeat_task = None
        # the listener python-socketio started, and its connections
        await cancel_and_wait(getattr(self, "thread", None))
        for client in (self.pubsub, self.redis):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _heartbeat_forever(self) -> None:
        while not self._heartbeat_stopping:
            # host_id differs from ours, so our own listener does not skip it as an echo
            message = {
                "method": "emit",
                "event": HEARTBEAT_EVENT,
                "data": [self.host_id],
                "namespace": "/",
                "room": HEARTBEAT_EVENT,
                "skip_sid": None,
                "callback": None,
                "host_id": f"{self.host_id}:heartbeat",
            }
            try:
                await self._publish(message)
            except Exception as exc:
                log.debug("socket.io heartbeat not sent", extra={"error": repr(exc)})
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if message.get("event") == HEARTBEAT_EVENT:
            if message.get("data") == [self.host_id]:
                self._last_heartbeat = time.monotonic()
            return
        await super()._handle_emit(message)
