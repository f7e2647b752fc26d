"""`TradewireClient`: log in, connect, subscribe, read typed pushes, place orders.

    async with TradewireClient("http://127.0.0.1:8000") as client:
        await client.login("demo", "demo-password")
        await client.connect()
        ack = await client.subscribe_watchlist(["AAPL"])
        async with client.stream(QUOTE_UPDATE) as quotes:
            async for quote in quotes:
                ...

The client reconnects as docs/WEBSOCKET.md ("Reconnecting") says: after a dropped transport
and after a disconnect the server decided (a `server:shutdown`, a logout, flooding), with the
back-off of `Backoff` (starting at the shutdown's `reconnectAfterMs`), and stops when a refusal
says `UNAUTHORIZED` or `REALTIME_DISABLED`, or when a `realtime:disabled` push came before the
disconnect. After every reconnect it sends the subscriptions it holds again and hands the
snapshots of their acks to the `on_connect` handlers.

No lost or doubled fills: it speaks connection-state recovery (the CONNECT reply's `pid` and
each user event's offset go back in the reconnecting CONNECT's auth). A recovered connect
(`Snapshots.recovered`) keeps its subscriptions and gets the missed user events replayed as
pushes; after any other reconnect it asks `GET /api/events?after=<seq>` and hands what the user
missed to the handlers as `Snapshots.missed`. Each user event reaches handlers and streams once
(`UserEventLedger`, by `seq`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import websockets

from tradewire.client.backoff import Backoff
from tradewire.client.connection import CLIENT_DISCONNECT, SERVER_DISCONNECT, Connection
from tradewire.client.errors import (
    AckTimeout,
    ConnectionLost,
    ConnectionRefused,
    EventRefused,
    NotConnected,
    RateLimited,
    RealtimeDisabled,
    TradewireError,
    Unauthorized,
    event_refused,
)
from tradewire.client.events import (
    PORTFOLIO_UPDATE,
    RATE_LIMITED,
    REALTIME_DISABLED,
    SERVER_EVENTS,
    SERVER_SHUTDOWN,
    TRADE_EXECUTED,
    TRADE_FAILED,
    EventStream,
    ServerEvent,
)
from tradewire.client.ledger import UserEventLedger
from tradewire.client.rest import RestApi
from tradewire.schemas import (
    MAX_SEQ,
    LoginOut,
    OkAck,
    OpsStatsAck,
    OrderOut,
    OrderType,
    PortfolioAck,
    QuotesAck,
    Schema,
    Side,
    TradesAck,
    UserEventOut,
    WatchlistAck,
)

log = logging.getLogger(__name__)

USER_EVENTS = frozenset(e.name for e in (TRADE_EXECUTED, TRADE_FAILED, PORTFOLIO_UPDATE))
"""The names of the pushes numbered by the user's `seq` (a set: looked up on every push)."""
CATCH_UP_PAGES = 10
"""Pages of `GET /api/events` (200 events each) a catch-up reads at most."""

T = TypeVar("T", bound=Schema)
A = TypeVar("A", bound=OkAck)

RESUBSCRIBE_RATE_LIMITED_TRIES = 3
"""How often a resubscription refused with `RATE_LIMITED` is sent again after `retryAfterMs`."""


@dataclass(frozen=True)
class Snapshots:
    """What an `on_connect` handler gets: the acks of the subscriptions the client sent again
    on this connect (None / empty for those it does not hold). `reconnect` is False for the
    connect made by `connect()`, which sends nothing by itself."""

    reconnect: bool
    portfolio: PortfolioAck | None = None
    trades: TradesAck | None = None
    quotes: QuotesAck | None = None
    recovered: bool = False
    """The server recovered the socket: subscriptions kept, missed user events replayed."""
    missed: list[UserEventOut] = field(default_factory=list)
    """After a reconnect that was not recovered: the user's events while the client was away
    (the snapshots include them), oldest first."""


@dataclass
class _Subscriptions:
    """What to send again after a reconnect; only what the server accepted."""

    portfolio: bool = False
    trades: bool = False
    ops: bool = False
    symbols: dict[str, None] = field(default_factory=dict)  # ordered set, upper-cased
    batch: bool = False


class TradewireClient:
    """See the module docstring. One client holds one login session and at most one socket.

    `reconnect=False` turns automatic reconnection off: the socket stays down after it ends.
    `reconnect_delay` / `reconnect_delay_max` are the back-off's start and cap in seconds (a
    `server:shutdown` notice overrides the start). `timeout` bounds every REST call, the
    connection handshake, and every ack wait.
    """

    def __init__(
        self,
        base_url: str,
        *,
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
        reconnect_delay_max: float = 30.0,
        timeout: float = 10.0,
        socket_path: str = "/socket.io",
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url
        self.rest = RestApi(base_url, timeout=timeout)
        self.timeout = timeout
        self.socket_path = socket_path
        self.reconnect = reconnect
        self.backoff = Backoff(reconnect_delay, reconnect_delay_max, rand=rand)
        self.reconnect_attempts = 0
        """Connection attempts made by the reconnect logic so far (successful or not)."""
        self._connection: Connection | None = None
        self._subs = _Subscriptions()
        self._handlers: defaultdict[str, list[Callable[[Any], object]]] = defaultdict(list)
        self._streams: defaultdict[str, list[EventStream[Any]]] = defaultdict(list)
        self._blocked_until: dict[str, float] = {}  # event -> monotonic time it is allowed again
        self._shutdown_after: float | None = None  # seconds, from the last server:shutdown
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._ended = asyncio.Event()
        self.ledger = UserEventLedger()
        """The user's events accounted for (pushed, replayed or in a snapshot), by `seq`."""
        self._pid: str | None = None  # the last connection's, for recovery
        self._offset: str | None = None
        self.failure: BaseException | None = None
        """Why the client stopped by itself (`Unauthorized` on reconnect), else None."""

    # ------------------------------------------------------------ lifetime

    async def __aenter__(self) -> TradewireClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect (no reconnect), end every stream, close the HTTP client."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        for task in list(self._tasks):
            task.cancel()
        self._end(None)
        await self.rest.aclose()

    async def wait_closed(self) -> None:
        """Wait until the client stops: `close()`, or a failure (raised here)."""
        await self._ended.wait()
        if self.failure is not None:
            raise self.failure

    def _end(self, error: BaseException | None) -> None:
        if error is not None and self.failure is None:
            self.failure = error
        for streams in self._streams.values():
            for stream in streams:
                stream.finish(error)
        self._ended.set()

    # ------------------------------------------------------------ REST

    @property
    def session_id(self) -> str | None:
        return self.rest.session_id

    async def login(self, username: str, password: str) -> LoginOut:
        """Log in over REST. Raises `AuthenticationFailed`."""
        return await self.rest.login(username, password)

    async def place_order(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        *,
        type: OrderType = "market",
        limit_price: Decimal | str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderOut:
        """Place an order over REST (`RestApi.place_order`); its fill is pushed as
        `trade:executed` and `portfolio:update`."""
        return await self.rest.place_order(
            symbol, side, quantity, type=type, limit_price=limit_price,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    # ------------------------------------------------------------ the socket

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected

    @property
    def sid(self) -> str | None:
        """The Socket.IO id of the current connection."""
        return self._connection.sid if self.connected and self._connection else None

    async def connect(self, session_id: str | None = None) -> None:
        """Open the socket with `session_id` (default: the one from `login`). Raises
        `Unauthorized`, `ShuttingDown`, `TooManyConnections` when refused, `OSError` or a
        `websockets` error when the server cannot be reached. Afterwards the client
        reconnects by itself (unless `reconnect=False`)."""
        if session_id is not None:
            self.rest.session_id = session_id
        if self.rest.session_id is None:
            raise Unauthorized("no session: log in first")
        if self.connected:
            return
        self._closing = False
        self._ended.clear()
        await self._open()
        await self._catch_up()  # where the user's history stands: nothing was missed yet
        self._fire_lifecycle("connect", Snapshots(reconnect=False))
        self._supervisor = asyncio.create_task(self._supervise(), name="tradewire-reconnect")

    async def _open(self) -> bool:
        """Connect; True when the server recovered the previous connection's state."""
        auth: dict[str, Any] = {"sessionId": self.rest.session_id}
        if self._pid is not None:
            auth["pid"] = self._pid
            if self._offset is not None:
                auth["offset"] = self._offset
        self._connection = await Connection.open(
            self.base_url, auth, self._on_event, path=self.socket_path, timeout=self.timeout
        )
        recovered = self._pid is not None and self._connection.pid == self._pid
        self._pid, self._offset = self._connection.pid, None
        return recovered

    async def _catch_up(self) -> list[UserEventOut]:
        """What the user missed, from the outbox; on the first connect only where the history
        stands. At most `CATCH_UP_PAGES` pages of 200."""
        first = not self.ledger.known
        missed: list[UserEventOut] = []
        try:
            for _ in range(CATCH_UP_PAGES):
                page = await self.rest.events(MAX_SEQ if first else self.ledger.floor)
                missed += self.ledger.absorb(page)
                if not page.has_more:
                    break
        except TradewireError as exc:
            log.warning("tradewire could not ask what was missed: %s", exc)
        return [] if first else missed

    async def _supervise(self) -> None:
        while self._connection is not None:
            reason = await asyncio.shield(self._connection.ended)
            self._offset = self._connection.offset
            self._connection = None
            log.info("tradewire socket disconnected: %s", reason)
            self._fire_lifecycle("disconnect", reason)
            if self._closing or reason == CLIENT_DISCONNECT:
                return
            if isinstance(self.failure, RealtimeDisabled):  # told so before the disconnect
                self._end(self.failure)
                return
            if not self.reconnect:
                self._end(ConnectionLost(f"disconnected: {reason}"))
                return
            start = self._shutdown_after if reason == SERVER_DISCONNECT else None
            self._shutdown_after = None
            self.backoff.reset(start)
            snapshots = await self._reconnect()
            if snapshots is None:
                return
            self._fire_lifecycle("connect", snapshots)

    async def _reconnect(self) -> Snapshots | None:
        while True:
            delay = self.backoff.next()
            log.info("tradewire reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)
            self.reconnect_attempts += 1
            try:
                if await self._open():
                    if self._subs.ops:  # the one subscription recovery does not keep
                        await self._send_again(self.subscribe_ops)
                    return Snapshots(reconnect=True, recovered=True)
                snapshots = await self._resubscribe()
                return dataclasses.replace(snapshots, missed=await self._catch_up())
            except (Unauthorized, RealtimeDisabled) as exc:
                log.warning("tradewire reconnect refused: %s", exc)
                self._end(exc)
                return None
            except (ConnectionRefused, ConnectionLost, AckTimeout, OSError,
                    websockets.WebSocketException) as exc:  # fmt: skip
                log.info("tradewire reconnect attempt failed: %r", exc)
                if self._connection is not None:
                    await self._connection.close()
                    self._connection = None

    async def _resubscribe(self) -> Snapshots:
        subs = self._subs
        portfolio = trades = quotes = None
        if subs.portfolio:
            portfolio = await self._send_again(self.subscribe_portfolio)
        if subs.trades:
            trades = await self._send_again(self.subscribe_trades)
        if subs.symbols:
            symbols, batch = list(subs.symbols), subs.batch
            quotes = await self._send_again(lambda: self.subscribe_watchlist(symbols, batch=batch))
        if subs.ops:
            await self._send_again(self.subscribe_ops)
        return Snapshots(reconnect=True, portfolio=portfolio, trades=trades, quotes=quotes)

    async def _send_again(self, subscribe: Callable[[], Awaitable[A]]) -> A | None:
        """One resubscription; `RATE_LIMITED` is waited out (`retryAfterMs`) and sent again."""
        for _ in range(RESUBSCRIBE_RATE_LIMITED_TRIES):
            try:
                return await subscribe()
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after_ms / 1000)
            except EventRefused as exc:
                log.warning("tradewire resubscription refused: %s", exc)
                return None
        return None

    # ------------------------------------------------------------ client events

    async def call(self, event: str, data: Any = None) -> Any:
        """Send any event and return its raw ack (for events this client has no method for).
        Raises `RateLimited` without sending while the server refuses that event kind."""
        remaining = self._blocked_until.get(event, 0.0) - time.monotonic()
        if remaining > 0:
            raise RateLimited(event, "refused until later", int(remaining * 1000) + 1)
        if self._connection is None:
            raise NotConnected(f"not connected: cannot send {event}")
        return await self._connection.call(event, data, timeout=self.timeout)

    async def _request(self, event: str, data: Any, ack_model: type[A]) -> A:
        ack = await self.call(event, data)
        if isinstance(ack, dict) and ack.get("ok") is True:
            return ack_model.model_validate(ack)
        error = event_refused(event, ack)
        if isinstance(error, RateLimited):
            self._block(event, error.retry_after_ms)
        raise error

    def _block(self, event: str, retry_after_ms: int) -> None:
        self._blocked_until[event] = time.monotonic() + retry_after_ms / 1000

    async def subscribe_portfolio(self) -> PortfolioAck:
        """The portfolio now; `portfolio:update` follows every fill."""
        ack = await self._request("subscribe:portfolio", None, PortfolioAck)
        self._subs.portfolio = True
        return ack

    async def subscribe_trades(self) -> TradesAck:
        """The 50 newest trades, newest first; `trade:executed` follows every fill."""
        ack = await self._request("subscribe:trades", None, TradesAck)
        self._subs.trades = True
        return ack

    async def subscribe_watchlist(self, symbols: list[str], *, batch: bool = False) -> QuotesAck:
        """Watch `symbols` too (up to 50 per socket): `quote:update` per tick, or with
        `batch=True` `quotes:update` every 50 ms for all the socket's symbols. The ack holds
        the latest quote of each. Raises `InvalidPayload`, `UnknownSymbol`, `LimitExceeded`."""
        ack = await self._request(
            "subscribe:watchlist", {"symbols": list(symbols), "batch": batch}, QuotesAck
        )
        self._subs.symbols.update(dict.fromkeys(s.strip().upper() for s in symbols))
        self._subs.batch = batch
        return ack

    async def unsubscribe_watchlist(self, symbols: list[str]) -> WatchlistAck:
        """Stop watching `symbols`; the ack lists what the socket still watches, sorted."""
        ack = await self._request("unsubscribe:watchlist", {"symbols": list(symbols)}, WatchlistAck)
        still = set(ack.symbols)
        self._subs.symbols = {s: None for s in self._subs.symbols if s in still}
        return ack

    async def subscribe_ops(self) -> OpsStatsAck:
        """Administrators: this instance's figures now, then `ops:stats` every second.
        Raises `Forbidden` for other users."""
        ack = await self._request("subscribe:ops", None, OpsStatsAck)
        self._subs.ops = True
        return ack

    async def unsubscribe_ops(self) -> OkAck:
        ack = await self._request("unsubscribe:ops", None, OkAck)
        self._subs.ops = False
        return ack

    # ------------------------------------------------------------ server events

    def on(self, event: ServerEvent[T], handler: Callable[[T], object]) -> Callable[[], None]:
        """Call `handler` with every `event` payload, parsed (a coroutine function runs as a
        task). Returns a function that removes the handler."""
        handlers = self._handlers[event.name]
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    def on_connect(self, handler: Callable[[Snapshots], object]) -> Callable[[], None]:
        """Call `handler` after every connect, with the snapshots of the resubscriptions."""
        handlers = self._handlers["connect"]
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    def on_disconnect(self, handler: Callable[[str], object]) -> Callable[[], None]:
        """Call `handler` with the reason whenever the socket ends (`io server disconnect`,
        `transport close`, `ping timeout`, `io client disconnect`)."""
        handlers = self._handlers["disconnect"]
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    def stream(self, event: ServerEvent[T], *, maxsize: int = 10_000) -> EventStream[T]:
        """An async iterator of `event`'s payloads from now on (see `EventStream`)."""
        stream: EventStream[T] = EventStream(event, self._drop_stream, maxsize)
        if self._ended.is_set() and self._closing:
            stream.finish(self.failure)
        else:
            self._streams[event.name].append(stream)
        return stream

    def _drop_stream(self, stream: EventStream[Any]) -> None:
        streams = self._streams[stream.event.name]
        if stream in streams:
            streams.remove(stream)

    def _on_event(self, name: str, data: Any, ack_id: int | None) -> None:
        event = SERVER_EVENTS.get(name)
        if event is None:
            log.debug("tradewire sent an event this client does not know: %s", name)
            return
        try:
            payload = event.parse(data)
        except ValueError as exc:
            log.warning("tradewire sent a %s this client cannot read: %s", name, exc)
            return
        if name in USER_EVENTS and not self.ledger.accept(
            payload.seq,  # type: ignore[attr-defined]
            payload.epoch,  # type: ignore[attr-defined]
        ):
            return  # replayed or pushed twice: handed on once already
        if event is SERVER_SHUTDOWN:
            self._shutdown_after = payload.reconnect_after_ms / 1000  # type: ignore[attr-defined]
        elif event is RATE_LIMITED:
            self._block(payload.event, payload.retry_after_ms)  # type: ignore[attr-defined]
        elif event is REALTIME_DISABLED:
            # the disconnect that follows is final: poll over REST until GET /api/config says yes
            self.failure = RealtimeDisabled(payload.reason)  # type: ignore[attr-defined]
        for handler in list(self._handlers[name]):
            self._run(handler, payload)
        for stream in self._streams[name]:
            stream.put(payload)

    def _fire_lifecycle(self, name: str, value: object) -> None:
        for handler in list(self._handlers[name]):
            self._run(handler, value)

    def _run(self, handler: Callable[[Any], object], value: object) -> None:
        try:
            result = handler(value)
        except Exception:
            log.exception("a tradewire event handler failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a tradewire event handler failed", exc_info=task.exception())
