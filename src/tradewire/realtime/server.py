"""The Socket.IO server: authenticated connections, per-user rooms, subscriptions and pushes.

Rooms: `user:{id}` (every socket of a user: portfolio, trade pushes) and `session:{key}` (every
socket of one login session: disconnected on logout). Quotes do not use rooms: they go through
`QuoteFanout` (fanout.py), which encodes each quote once and writes it straight to each
watching socket. Sockets that subscribe with `batch: true` get `quotes:update` batches instead
of `quote:update`, conflated per socket and flushed every `QUOTE_BATCH_INTERVAL` seconds
(latest quote per symbol wins).

Every client event answers through its ack: `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}}`. A handler never raises into python-socketio, so a
bad payload never drops the connection. Event names, payloads, errors and limits are documented
in docs/WEBSOCKET.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

import engineio
import engineio.payload
import socketio
from pydantic import ValidationError

from tradewire import metrics
from tradewire.accounts.sessions import SESSION_REVOKED, SessionInfo, SessionStore
from tradewire.api.deps import SESSION_COOKIE
from tradewire.cluster.bus import Bus, MemoryBus
from tradewire.market.cache import QuoteCache
from tradewire.market.feed import MarketFeed
from tradewire.ratelimit import RateLimiter
from tradewire.realtime.codec import OrjsonCodec
from tradewire.realtime.fanout import BATCH_EVENT, QUOTE_EVENT, SOCKET_GROUPS, QuoteFanout
from tradewire.realtime.limits import MAX_TRACKED_EVENT_NAME, EventGuard
from tradewire.realtime.manager import HeartbeatRedisManager, make_manager
from tradewire.realtime.ops import (
    PROBE_INTERVAL,
    PROBE_SAMPLE,
    PROBE_TIMEOUT,
    STATS_INTERVAL,
    OpsMonitor,
)
from tradewire.schemas import (
    Portfolio,
    Quote,
    RateLimitedEvent,
    ShutdownNotice,
    TradeFailed,
    TradeOut,
    WatchlistSubscribe,
)
from tradewire.settings import Settings
from tradewire.trading.executor import (
    PORTFOLIO_UPDATED,
    TRADE_EXECUTED,
    TRADE_FAILED,
    TradeExecutor,
)

log = logging.getLogger(__name__)

MAX_SYMBOLS_PER_SOCKET = 50
TRADES_SNAPSHOT = 50
QUOTE_BATCH_INTERVAL = 0.05
MAX_MESSAGE_BYTES = 64 * 1024
"""Engine.IO closes a connection whose packet is larger (transport limit)."""
MAX_PACKETS_PER_POST = 500
"""Packets one long-polling POST may carry. A client flushes every event it emitted since its
last POST in one, and python-engineio drops the whole POST, silently, when it holds more than
this (its default, 16, lost a burst of 17+ events). The byte limit above still applies."""
SHUTDOWN_RECONNECT_AFTER_MS = 1000
SESSIONS_CHANNEL = "sessions"
LONG_POLL_DRAIN_SECONDS = 1.0
"""On shutdown, how long a long-polling client gets to fetch its last packets."""

Ack = dict[str, Any]
Handler = Callable[[str, "SocketState", Any], Awaitable[Ack]]


def ok(**payload: Any) -> Ack:
    return {"ok": True, **payload}


def fail(code: str, message: str, **extra: Any) -> Ack:
    return {"ok": False, "error": {"code": code, "message": message, **extra}}


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


@dataclass(slots=True)
class SocketState:
    """What this instance knows of one of its own sockets."""

    sid: str
    eio_sid: str
    session: SessionInfo
    transport: str
    connected_at: float
    symbols: set[str] = field(default_factory=set)
    batch: bool = False

    @property
    def user_id(self) -> int:
        return self.session.user_id


class RealtimeServer:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionStore,
        executor: TradeExecutor,
        feed: MarketFeed,
        quotes: QuoteCache,
        limiter: RateLimiter,
        bus: Bus | None = None,
    ) -> None:
        self.settings = settings
        self.bus: Bus = bus if bus is not None else MemoryBus()
        self.sessions = sessions
        self.executor = executor
        self.feed = feed
        self.quotes = quotes
        self.guard = EventGuard(limiter)
        manager = make_manager(settings.redis_url)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            json=OrjsonCodec,
            cors_allowed_origins=settings.allowed_origins,
            cors_credentials=True,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            ping_interval=20,
            ping_timeout=20,
            logger=False,
            engineio_logger=False,
        )
        # python-engineio's limit is a class attribute (process-wide), not a server option
        engineio.payload.Payload.max_decode_packets = MAX_PACKETS_PER_POST
        # python-engineio leaves a long-poll GET waiting when its client closes the connection:
        # the request stays open until the poll times out (40 s), which keeps that client's
        # HTTP connection busy (a Node client cannot even exit) and holds uvicorn's graceful
        # stop. Its disconnect handler is wrapped to answer that GET.
        self._socketio_on_eio_disconnect = self.sio.eio.handlers["disconnect"]
        self.sio.eio.on("disconnect", self._on_engineio_disconnect)
        self.fanout = QuoteFanout(self.sio.eio)
        manager.writer = self.fanout.write  # every local emit: one encoding, no task per socket
        # the quote paths' counters, looked up once rather than per quote or per flush
        self._quotes_emitted = metrics.MESSAGES_EMITTED.labels(event=QUOTE_EVENT)
        self._batches_emitted = metrics.MESSAGES_EMITTED.labels(event=BATCH_EVENT)
        self.accepting = True
        # sockets[sid]: this instance's sockets; batch_sockets: those that asked for batches
        self.sockets: dict[str, SocketState] = {}
        self.batch_sockets: dict[str, SocketState] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Handler] = {
            "subscribe:portfolio": self._subscribe_portfolio,
            "subscribe:trades": self._subscribe_trades,
            "subscribe:watchlist": self._subscribe_watchlist,
            "unsubscribe:watchlist": self._unsubscribe_watchlist,
            "subscribe:ops": self._subscribe_ops,
            "unsubscribe:ops": self._unsubscribe_ops,
        }
        self.ops = OpsMonitor()
        self.instance_name = f"{platform.node()}:{os.getpid()}"
        self.ops_sockets: set[str] = set()
        self._ops_task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Future[None]] = set()
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)
        self._attached = False

    # ------------------------------------------------------------ lifecycle

    def asgi_app(self, other: Any) -> socketio.ASGIApp:
        return socketio.ASGIApp(self.sio, other_asgi_app=other, socketio_path="socket.io")

    def attach(self) -> None:
        """Connect domain events to the emit methods. Once, at start-up."""
        if self._attached:
            return
        self.executor.on(TRADE_EXECUTED, self.emit_trade_notification)
        self.executor.on(TRADE_FAILED, self.emit_trade_failed)
        self.executor.on(PORTFOLIO_UPDATED, self.emit_portfolio_update)
        self.feed.on("quote", self._on_quote)
        self.sessions.on(SESSION_REVOKED, self._announce_revocation)
        self.bus.subscribe(SESSIONS_CHANNEL, self._on_session_message)
        if isinstance(self.sio.manager, HeartbeatRedisManager):
            # python-socketio starts the manager's listener on the first connection; start it
            # now, so cross-instance events and the heartbeat flow before anyone connects
            if not self.sio.manager_initialized:
                self.sio.manager_initialized = True
                self.sio.manager.initialize()
            self.sio.manager.start_heartbeat()
        self._flusher = asyncio.create_task(self._flush_batches_forever(), name="quote-batches")
        self._sender = asyncio.create_task(self._send_quotes_forever(), name="quote-sender")
        self._ops_task = asyncio.create_task(self._ops_forever(), name="ops")
        self._attached = True

    def detach(self) -> None:
        if not self._attached:
            return
        self.executor.remove_listener(TRADE_EXECUTED, self.emit_trade_notification)
        self.executor.remove_listener(TRADE_FAILED, self.emit_trade_failed)
        self.executor.remove_listener(PORTFOLIO_UPDATED, self.emit_portfolio_update)
        self.feed.remove_listener("quote", self._on_quote)
        self.sessions.remove_listener(SESSION_REVOKED, self._announce_revocation)
        self.bus.unsubscribe(SESSIONS_CHANNEL, self._on_session_message)
        for task in (self._flusher, self._sender):
            if task is not None:
                task.cancel()
        self._flusher = self._sender = None
        if self._ops_task is not None:
            self._ops_task.cancel()
            self._ops_task = None
        self._attached = False

    async def close(self) -> None:
        """Close the Socket.IO manager's Redis connections (cluster mode); after `detach`."""
        if isinstance(self.sio.manager, HeartbeatRedisManager):
            await self.sio.manager.close()

    async def shutdown(self) -> None:
        """Refuse new connections, tell every socket to reconnect elsewhere, disconnect them."""
        self.accepting = False
        for probe in list(self._probes):  # nobody waits for a round trip any more
            probe.cancel()
        notice = ShutdownNotice(reconnect_after_ms=SHUTDOWN_RECONNECT_AFTER_MS).wire()
        sids = list(self.sockets)
        long_polling = [socket for sid in sids if (socket := self._long_poll(sid)) is not None]
        for sid in sids:
            await self._emit("server:shutdown", notice, to=sid, ignore_queue=True)
        for sid in sids:
            try:
                await self.sio.disconnect(sid, ignore_queue=True)
            except Exception:  # a socket that went away meanwhile
                log.debug("disconnect during shutdown failed", extra={"sid": sid})
        if long_polling:
            await asyncio.gather(*(self._close_long_poll(socket) for socket in long_polling))
        log.info("realtime server stopped", extra={"sockets": len(sids)})
        self.detach()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)

    def _long_poll(self, sid: str) -> Any:
        """The Engine.IO socket of `sid` if that client is on the polling transport, else None."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        socket = self.sio.eio.sockets.get(eio_sid) if eio_sid else None
        return socket if socket is not None and not socket.upgraded else None

    async def _close_long_poll(self, socket: Any) -> None:
        """Queue an Engine.IO CLOSE for a long-polling client that was just disconnected.

        A GET that waits for packets is answered only when something is queued: left alone it
        waits until the poll times out (ping interval + timeout, 40 s) and holds uvicorn's
        graceful stop for its whole grace period. The CLOSE is queued once the client fetched
        what was queued before it (the notice, the disconnect), so it reads them in that order;
        it answers the GET that waits now or the next one. Put in the queue directly: `send()`
        refuses a socket the client closed meanwhile, whose GET may still be waiting, and
        `eio.disconnect()` waits for the client to fetch the CLOSE, which one that already left
        never does."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(socket.queue.join(), LONG_POLL_DRAIN_SECONDS)
        socket.queue.put_nowait(engineio.packet.Packet(engineio.packet.CLOSE))

    # ------------------------------------------------------------ connection

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        started = time.perf_counter()
        if not self.accepting:
            raise socketio.exceptions.ConnectionRefusedError(
                "shutting_down", {"code": "SHUTTING_DOWN"}
            )
        token = auth.get("sessionId") if isinstance(auth, dict) else None
        if token is None:
            token = _cookie_token(environ.get("HTTP_COOKIE", ""))
        session = await self.sessions.verify(token)
        metrics.HANDSHAKE_SECONDS.observe(time.perf_counter() - started)
        if session is None:
            metrics.AUTH_FAILURES.inc()
            log.info(
                "connection refused: unauthorized",
                extra={"sid": sid, "remote": environ.get("REMOTE_ADDR")},
            )
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "UNAUTHORIZED"}
            )
        _forget_headers(environ)
        transport = self.sio.transport(sid)
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        state = SocketState(sid, eio_sid, session, transport, time.monotonic())
        self.sockets[sid] = state
        await self.sio.enter_room(sid, f"user:{session.user_id}")
        await self.sio.enter_room(sid, f"session:{session.session_key}")
        metrics.CONNECTIONS.labels(transport=transport).inc()
        metrics.CONNECTS.inc()
        log.info(
            "socket connected",
            extra={"user_id": session.user_id, "sid": sid, "transport": transport},
        )

    async def _on_engineio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        await self._socketio_on_eio_disconnect(eio_sid, reason)
        socket = self.sio.eio.sockets.get(eio_sid)
        if (
            socket is not None
            and not socket.upgraded
            and reason == self.sio.eio.reason.CLIENT_DISCONNECT
        ):
            socket.queue.put_nowait(engineio.packet.Packet(engineio.packet.NOOP))

    async def _on_disconnect(self, sid: str, reason: str = "unknown") -> None:
        state = self.sockets.pop(sid, None)
        self.batch_sockets.pop(sid, None)
        self.ops_sockets.discard(sid)
        self.guard.forget(sid)
        if state is None:
            return
        self.fanout.unsubscribe(sid, state.symbols)
        reason = str(reason)
        metrics.CONNECTIONS.labels(transport=state.transport).dec()
        metrics.DISCONNECTS.labels(reason=reason).inc()
        log.info(
            "socket disconnected",
            extra={
                "user_id": state.user_id,
                "sid": sid,
                "transport": state.transport,
                "reason": reason,
                "duration_s": round(time.monotonic() - state.connected_at, 3),
            },
        )

    @property
    def pubsub_flowing(self) -> bool:
        """True unless a Redis manager's heartbeat stopped coming back (see manager.py)."""
        manager = self.sio.manager
        return not isinstance(manager, HeartbeatRedisManager) or manager.flowing

    async def _announce_revocation(self, session: SessionInfo) -> None:
        """A session was revoked here: tell every instance (this one included)."""
        message = {"op": "revoked", "sessionKey": session.session_key, "userId": session.user_id}
        try:
            await self.bus.publish(SESSIONS_CHANNEL, message)
        except Exception as exc:  # at least this instance's sockets go
            log.warning("revocation not announced", extra={"error": repr(exc)})
            await self.disconnect_session(session.session_key, session.user_id)

    async def _on_session_message(self, message: dict[str, Any]) -> None:
        if message.get("op") == "revoked" and isinstance(message.get("sessionKey"), str):
            await self.disconnect_session(message["sessionKey"], message.get("userId"))

    async def disconnect_session(self, session_key: str, user_id: object = None) -> None:
        """Disconnect every socket of a revoked session (logout) on this instance."""
        sids = [s.sid for s in self.sockets.values() if s.session.session_key == session_key]
        for sid in sids:
            await self.sio.disconnect(sid, ignore_queue=True)
        if sids:
            log.info(
                "session revoked; sockets disconnected",
                extra={"user_id": user_id, "sockets": len(sids)},
            )

    # ------------------------------------------------------------ client events

    async def _on_event(self, event: str, sid: str, *args: Any) -> Ack | None:
        """Every client event: rate limit, validate, dispatch, answer through the ack."""
        state = self.sockets.get(sid)
        if state is None:
            return None
        handler = self._handlers.get(event)
        label = event if handler else "*"
        metrics.EVENTS_RECEIVED.labels(event=label).inc()
        retry_ms = await self.guard.check(state.user_id, event)
        if retry_ms is not None:
            notice = RateLimitedEvent(
                event=event[:MAX_TRACKED_EVENT_NAME], retry_after_ms=retry_ms
            ).wire()
            await self._emit("rate_limited", notice, to=sid, ignore_queue=True)
            if self.guard.record_rejection(sid):
                metrics.FLOOD_DISCONNECTS.inc()
                log.warning(
                    "socket disconnected for flooding",
                    extra={"user_id": state.user_id, "sid": sid, "event": label},
                )
                self._spawn(self.sio.disconnect(sid))
            return fail("RATE_LIMITED", "Too many requests; slow down.", retryAfterMs=retry_ms)
        if handler is None:
            return fail("UNKNOWN_EVENT", "Unknown event.")
        payload = args[0] if args else None
        try:
            return await handler(sid, state, payload)
        except ValidationError as exc:
            return fail("VALIDATION_ERROR", validation_message(exc))
        except Exception:
            log.exception(
                "event handler failed", extra={"user_id": state.user_id, "sid": sid, "event": event}
            )
            return fail("INTERNAL", "Something went wrong on our side; try again.")

    async def _subscribe_portfolio(self, sid: str, state: SocketState, _: Any) -> Ack:
        portfolio = await self.executor.portfolio(state.user_id)
        return ok(portfolio=portfolio.wire())

    async def _subscribe_trades(self, sid: str, state: SocketState, _: Any) -> Ack:
        trades = await self.executor.trades(state.user_id, TRADES_SNAPSHOT)
        return ok(trades=[t.wire() for t in trades])

    async def _subscribe_watchlist(self, sid: str, state: SocketState, payload: Any) -> Ack:
        req = WatchlistSubscribe.model_validate(payload)
        symbols = list(dict.fromkeys(req.symbols))
        unknown = [s for s in symbols if not self.feed.is_known(s)]
        if unknown:
            return fail(
                "UNKNOWN_SYMBOL",
                f"Unknown symbol: {', '.join(unknown[:5])}.",
                symbols=unknown[:MAX_SYMBOLS_PER_SOCKET],
            )
        new = [s for s in symbols if s not in state.symbols]
        if len(state.symbols) + len(new) > MAX_SYMBOLS_PER_SOCKET:
            return fail(
                "LIMIT_EXCEEDED", f"A socket can watch at most {MAX_SYMBOLS_PER_SOCKET} symbols."
            )
        if req.batch != state.batch:
            new = list(dict.fromkeys([*state.symbols, *new]))  # switching mode moves them all
        state.batch = req.batch
        state.symbols.update(new)
        self.fanout.subscribe(sid, state.eio_sid, new, batch=state.batch)
        if state.batch:
            self.batch_sockets[sid] = state
        else:
            self.batch_sockets.pop(sid, None)
        found = await self.quotes.latest_many(symbols)
        return ok(quotes=[found[s].wire() for s in symbols if s in found])

    async def _subscribe_ops(self, sid: str, state: SocketState, _: Any) -> Ack:
        """Admins only: `ops:stats` pushes of this instance every `STATS_INTERVAL` seconds."""
        if state.session.role != "admin":
            return fail("FORBIDDEN", "The ops view is for administrators.")
        self.ops_sockets.add(sid)
        return ok(stats=self.ops_snapshot())

    async def _unsubscribe_ops(self, sid: str, state: SocketState, _: Any) -> Ack:
        self.ops_sockets.discard(sid)
        return ok()

    def ops_snapshot(self) -> dict[str, Any]:
        return self.ops.snapshot(len(self.sockets), self.instance_name)

    async def _ops_forever(self) -> None:
        """Push `ops:stats` to subscribed admins, and probe a sample of clients' round trip."""
        last_probe = 0.0
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            try:
                if self.ops_sockets:
                    stats = self.ops_snapshot()
                    for sid in list(self.ops_sockets):
                        await self._emit("ops:stats", stats, to=sid, ignore_queue=True)
                if time.monotonic() - last_probe >= PROBE_INTERVAL and self.sockets:
                    last_probe = time.monotonic()
                    sample = random.sample(list(self.sockets), min(PROBE_SAMPLE, len(self.sockets)))
                    for sid in sample:
                        probe = asyncio.ensure_future(self._probe(sid))
                        self._probes.add(probe)
                        probe.add_done_callback(self._probes.discard)
            except Exception:
                log.exception("ops step failed")

    async def _probe(self, sid: str) -> None:
        """One latency probe: `latency:ping` with an ack, timed."""
        started = time.perf_counter()
        try:
            await self.sio.call(
                "latency:ping",
                {"ts": int(time.time() * 1000)},
                to=sid,
                timeout=PROBE_TIMEOUT,
                ignore_queue=True,
            )
        except socketio.exceptions.TimeoutError:
            metrics.CLIENT_PROBE_TIMEOUTS.inc()
            return
        except Exception:  # the socket went away meanwhile
            return
        seconds = time.perf_counter() - started
        metrics.CLIENT_RTT_SECONDS.observe(seconds)
        self.ops.client_rtt.add(seconds)

    async def _unsubscribe_watchlist(self, sid: str, state: SocketState, payload: Any) -> Ack:
        req = WatchlistSubscribe.model_validate(payload)
        state.symbols.difference_update(req.symbols)
        self.fanout.unsubscribe(sid, req.symbols)
        if not state.symbols:
            self.batch_sockets.pop(sid, None)
        return ok(symbols=sorted(state.symbols))

    # ------------------------------------------------------------ emits (server -> client)

    async def emit_portfolio_update(self, user_id: int, portfolio: Portfolio) -> None:
        await self._emit("portfolio:update", portfolio.wire(), room=f"user:{user_id}")

    async def emit_trade_notification(self, user_id: int, trade: TradeOut) -> None:
        if await self._emit("trade:executed", trade.wire(), room=f"user:{user_id}"):
            seconds = metrics.observe_order_to_trade()
            if seconds is not None:
                self.ops.trade_latency.add(seconds)

    async def emit_trade_failed(self, user_id: int, failed: TradeFailed) -> None:
        await self._emit("trade:failed", failed.wire(), room=f"user:{user_id}")

    async def emit_quote_update(self, quote: Quote) -> None:
        self.push_quote(quote)

    def push_quote(self, quote: Quote) -> None:
        """Push a quote to this instance's plain subscribers; keep it for the batching ones.

        Synchronous and never raises: the feed calls it on every tick, and the writing is
        done by the sender and batch tasks (fanout.py). Every instance gets every quote from
        the feed, so each reaches only its own sockets."""
        try:
            self.fanout.publish(quote)
        except Exception as exc:
            metrics.EMIT_FAILURES.labels(event=QUOTE_EVENT).inc()
            log.error("emit failed", extra={"event": QUOTE_EVENT, "error": repr(exc)})
            return
        self._quotes_emitted.inc()
        self.ops.messages.total += 1
        self.ops.quote_latency.add(metrics.observe_quote_delivery(quote.ts))

    async def _emit(self, event: str, data: Any, **target: Any) -> bool:
        """Emit and never raise: a failed emit is logged with context, counted, and False."""
        try:
            await self.sio.emit(event, data, **target)
        except Exception as exc:
            metrics.EMIT_FAILURES.labels(event=event).inc()
            log.error("emit failed", extra={"event": event, "error": repr(exc), **target})
            return False
        metrics.MESSAGES_EMITTED.labels(event=event).inc()
        self.ops.messages.total += 1
        return True

    # ------------------------------------------------------------ quotes

    def _on_quote(self, quote: Quote) -> None:
        """Feed listener (sync, on the feed's hot path)."""
        self.push_quote(quote)

    async def _send_quotes_forever(self) -> None:
        while True:
            try:
                await self.fanout.send()
            except Exception:
                log.exception("quote send failed")

    async def _flush_batches_forever(self) -> None:
        """Flush the batching sockets' groups in turn, each after its share of the interval:
        every socket gets at most one batch per `QUOTE_BATCH_INTERVAL`, and the writes of one
        round are spread over it rather than made in one burst."""
        while True:
            for group in range(SOCKET_GROUPS):
                await asyncio.sleep(QUOTE_BATCH_INTERVAL / SOCKET_GROUPS)
                try:
                    await self.flush_batches(group)
                except Exception:
                    log.exception("quote batch flush failed")
            self.guard.prune()

    async def flush_batches(self, group: int | None = None) -> None:
        """Send each batching socket of `group` (default: every socket) the latest quotes of its
        symbols since that group's last flush."""
        frames = await self.fanout.flush(group)
        if frames:
            self._batches_emitted.inc(frames)
            self.ops.messages.total += frames

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _cookie_token(header: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(SESSION_COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def _forget_headers(environ: dict[str, Any]) -> None:
    """Drop the handshake's headers from an accepted socket's environ (and the ASGI scope it
    holds): python-socketio keeps the environ for the socket's lifetime, nothing reads the
    headers after the connect, and they are about 3.8 KB per connection."""
    for key in [key for key in environ if key.startswith("HTTP_")]:
        del environ[key]
    scope = environ.get("asgi.scope")
    if isinstance(scope, dict):
        scope["headers"] = []
