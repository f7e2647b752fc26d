"""Socket.IO clients for the realtime tests, and small helpers around a live server.

`Client` records everything a user's socket sees, in order: server events, `connect`,
`disconnect` (with its reason) and `connect_error` (with its data). `ResubscribingClient` is the
client docs/WEBSOCKET.md tells people to write: it resubscribes on every connect and, after a
server-side disconnect (which socket.io never retries by itself), connects again with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio
from prometheus_client import REGISTRY

from tests.harness.waiting import wait_until

WAIT = 10.0
"""Default deadline for anything a test waits on (generous: a busy 2-core CI machine)."""


@dataclass(frozen=True)
class Seen:
    """One thing a client saw: a server event, or "connect"/"disconnect"/"connect_error"."""

    name: str
    data: Any
    at: float  # time.monotonic() on arrival
    rest: tuple[Any, ...] = ()
    """Arguments after the first: a user event's recovery offset."""


def _read_post_answers() -> aiohttp.TraceConfig:
    async def read(
        _: aiohttp.ClientSession, __: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.method == "POST":
            await params.response.read()

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(read)
    return trace


class Client:
    """python-socketio's AsyncClient (no automatic reconnection) recording what it sees."""

    def __init__(self, *, reconnection: bool = False) -> None:
        # Our own HTTP session, closed by close(), that reads every POST answer: python-engineio's
        # client never reads the answers to its long-polling POSTs, which leaves a connection
        # unreleased when it closes quickly ("Unclosed connection" at garbage collection).
        self.http = aiohttp.ClientSession(trace_configs=[_read_post_answers()])
        self.sio = socketio.AsyncClient(
            reconnection=reconnection,
            reconnection_delay=0.1,
            reconnection_delay_max=1.0,
            randomization_factor=0,
            http_session=self.http,
        )
        self.seen: list[Seen] = []
        self.sio.on("*", self._record_event)
        self.sio.on("connect", self._record_connect)
        self.sio.on("disconnect", self._record_disconnect)
        self.sio.on("connect_error", self._record_connect_error)

    async def _record_event(self, event: str, data: Any = None, *rest: Any) -> None:
        self.seen.append(Seen(event, data, time.monotonic(), rest))

    async def _record_connect(self) -> None:
        self.seen.append(Seen("connect", None, time.monotonic()))

    async def _record_disconnect(self, reason: str | None = None) -> None:
        self.seen.append(Seen("disconnect", reason, time.monotonic()))

    async def _record_connect_error(self, data: Any = None) -> None:
        self.seen.append(Seen("connect_error", data, time.monotonic()))

    # ------------------------------------------------------------ connecting

    async def connect(
        self,
        url: str,
        session_id: str | None = None,
        *,
        transports: list[str] | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
    ) -> Client:
        if auth is None and session_id is not None:
            auth = {"sessionId": session_id}
        await self.sio.connect(
            url,
            auth=auth,
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def refused(self, url: str, session_id: str | None = None, **kwargs: Any) -> Any:
        """Try to connect; return the `connect_error` data the server answered with."""
        before = len(self.of("connect_error"))
        with contextlib.suppress(socketio.exceptions.ConnectionError):
            await self.connect(url, session_id, **kwargs)
        assert not self.sio.connected, "the server accepted a connection it should refuse"
        await wait_until(
            lambda: len(self.of("connect_error")) > before,
            timeout=WAIT,
            what="a connect_error from the server",
        )
        return self.of("connect_error")[-1]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()
        await self.http.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ talking

    async def call(self, event: str, data: Any = None, timeout: float = WAIT) -> Any:
        """Send `event` and return the server's ack."""
        return await self.sio.call(event, data, timeout=timeout)

    # ------------------------------------------------------------ what arrived

    def of(self, name: str, where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [s.data for s in self.seen if s.name == name and where(s.data)]

    def offsets(self, name: str) -> list[Any]:
        """The last argument of each `name` event after its payload (a user event's offset)."""
        return [s.rest[-1] if s.rest else None for s in self.seen if s.name == name]

    def names(self) -> list[str]:
        return [s.name for s in self.seen]

    async def wait_for(
        self,
        name: str,
        count: int = 1,
        *,
        where: Callable[[Any], bool] = lambda _: True,
        timeout: float = WAIT,
    ) -> list[Any]:
        """Wait until `count` `name` events matching `where` arrived; return all of them."""
        await wait_until(
            lambda: len(self.of(name, where)) >= count,
            timeout=timeout,
            what=f"{count} '{name}' event(s) (got {len(self.of(name, where))}; "
            f"seen so far: {self.names()[-12:]})",
        )
        return self.of(name, where)

    async def wait_disconnected(self, timeout: float = WAIT) -> str:
        """Wait until the server dropped this socket; return the disconnect reason."""
        await wait_until(
            lambda: not self.sio.connected and self.of("disconnect"),
            timeout=timeout,
            what="the server to disconnect this socket",
        )
        return str(self.of("disconnect")[-1])


class ResubscribingClient(Client):
    """A client that follows docs/WEBSOCKET.md: it subscribes again in its connect handler, and
    when the server ends the connection it calls connect() again with exponential back-off,
    until a refusal says `UNAUTHORIZED` (the session is over: log in again). Transport drops (a
    killed server, a lost network) are retried by socket.io itself (`reconnection=True`)."""

    def __init__(
        self, url: str, session_id: str, symbols: list[str], *, give_up_after: float = 30.0
    ) -> None:
        super().__init__(reconnection=True)
        self.url = url
        self.session_id = session_id
        self.symbols = symbols
        self.give_up_after = give_up_after
        self.subscribe_acks: list[Any] = []
        self.reconnect_attempts = 0
        self._reconnecting: asyncio.Task[None] | None = None
        self.sio.on("connect", self._resubscribe)
        self.sio.on("disconnect", self._maybe_reconnect)
        self._closing = False

    async def start(self) -> ResubscribingClient:
        await self.connect(self.url, self.session_id)
        return self

    async def _resubscribe(self) -> None:
        await self._record_connect()

        async def remember(ack: Any) -> None:
            self.subscribe_acks.append(ack)

        # emit with a callback, not call(): the connect handler must not wait for an answer
        await self.sio.emit("subscribe:watchlist", {"symbols": self.symbols}, callback=remember)
        await self.sio.emit("subscribe:portfolio", None, callback=remember)

    async def _maybe_reconnect(self, reason: str | None = None) -> None:
        await self._record_disconnect(reason)
        if reason == self.sio.reason.SERVER_DISCONNECT and not self._closing:
            self._reconnecting = asyncio.create_task(self._reconnect_with_backoff())

    async def _reconnect_with_backoff(self) -> None:
        delay, deadline = 0.1, time.monotonic() + self.give_up_after
        while not self._closing and time.monotonic() < deadline:
            await asyncio.sleep(delay)  # the back-off itself, not a wait for a condition
            self.reconnect_attempts += 1
            try:
                await self.connect(self.url, self.session_id)
                return
            except (socketio.exceptions.ConnectionError, ValueError):
                refusals = self.of("connect_error")
                last = refusals[-1] if refusals else None
                if isinstance(last, dict) and last.get("data") == {"code": "UNAUTHORIZED"}:
                    return  # logged out or expired: log in again, retrying will not help
                delay = min(delay * 2, 1.0)

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        await super().close()


def metric(name: str, **labels: str) -> float:
    """Current value of a Prometheus sample of this process (0 when never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
