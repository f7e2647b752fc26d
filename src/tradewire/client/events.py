"""The server's pushes as typed keys, and the async iterator a program reads them with.

`QUOTE_UPDATE` and the others pair an event name with the pydantic model of its payload
(`tradewire.schemas.SERVER_EVENTS`), so `client.on(QUOTE_UPDATE, handler)` hands `handler` a
`Quote` and `client.stream(TRADE_EXECUTED)` yields `TradeOut`s, both checked by mypy.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tradewire.schemas import (
    LatencyPing,
    OpsStats,
    PortfolioUpdate,
    Quote,
    QuoteBatch,
    RateLimitedEvent,
    RealtimeDisabledNotice,
    Schema,
    ShutdownNotice,
    TradeExecuted,
    TradeFailedEvent,
)

T = TypeVar("T", bound=Schema)


@dataclass(frozen=True)
class ServerEvent(Generic[T]):
    """A server event's wire name and payload model."""

    name: str
    model: type[T]

    def parse(self, data: object) -> T:
        """The payload as its model. Raises `pydantic.ValidationError`."""
        return self.model.model_validate(data)


QUOTE_UPDATE = ServerEvent("quote:update", Quote)
QUOTES_UPDATE = ServerEvent("quotes:update", QuoteBatch)
TRADE_EXECUTED = ServerEvent("trade:executed", TradeExecuted)
TRADE_FAILED = ServerEvent("trade:failed", TradeFailedEvent)
PORTFOLIO_UPDATE = ServerEvent("portfolio:update", PortfolioUpdate)
RATE_LIMITED = ServerEvent("rate_limited", RateLimitedEvent)
SERVER_SHUTDOWN = ServerEvent("server:shutdown", ShutdownNotice)
REALTIME_DISABLED = ServerEvent("realtime:disabled", RealtimeDisabledNotice)
OPS_STATS = ServerEvent("ops:stats", OpsStats)
LATENCY_PING = ServerEvent("latency:ping", LatencyPing)

SERVER_EVENTS: dict[str, ServerEvent[Schema]] = {
    event.name: event  # type: ignore[misc]
    for event in (
        QUOTE_UPDATE,
        QUOTES_UPDATE,
        TRADE_EXECUTED,
        TRADE_FAILED,
        PORTFOLIO_UPDATE,
        RATE_LIMITED,
        SERVER_SHUTDOWN,
        REALTIME_DISABLED,
        OPS_STATS,
        LATENCY_PING,
    )
}


class EventStream(Generic[T]):
    """The payloads of one server event, in arrival order, for `async for`.

    Holds at most `maxsize` unread payloads: past that the oldest is dropped and counted in
    `dropped` (a reader that falls behind loses old quotes, never the connection). Ends when the
    stream or the client is closed; raises the client's failure (e.g. `Unauthorized` when a
    reconnect was refused) once the buffered payloads are read. Made by `client.stream(...)`;
    use it as `async with` (or call `close()`) so the client stops feeding it.
    """

    def __init__(self, event: ServerEvent[T], on_close: Callable[[EventStream[T]], None],
                 maxsize: int = 10_000) -> None:  # fmt: skip
        self.event = event
        self.dropped = 0
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._wakeup = asyncio.Event()
        self._end: BaseException | None = None
        self._on_close = on_close

    def put(self, item: T) -> None:
        if self._end is not None:
            return
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._wakeup.set()

    def finish(self, error: BaseException | None = None) -> None:
        """No more payloads: the stream ends (with `error`, if given) after the buffered ones."""
        if self._end is None:
            self._end = error if error is not None else StopAsyncIteration()
            self._wakeup.set()

    def close(self) -> None:
        self.finish()
        self._on_close(self)

    def __aiter__(self) -> EventStream[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._end is not None:
                raise self._end
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    async def __aenter__(self) -> EventStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
