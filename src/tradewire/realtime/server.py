"""The Socket.IO service: authenticated connections, rooms, subscriptions and pushes.

Runs on tradewire's own transport: `engine.py` (Engine.IO sessions, long-polling, WebSocket
through `websocket.py`) and `sockets.py` (Socket.IO namespaces, events, acks). This module is
the default namespace's application: it authenticates each connection (`auth.sessionId`, or
the session cookie), keeps what it knows of each socket in a `SocketState`, puts sockets in
rooms (rooms.py) and pushes to them.

Rooms: `user:{id}` (every socket of a user: portfolio, trade pushes), `session:{key}` (every
socket of one login session: disconnected on logout), and the quote rooms of fanout.py.
User pushes go through the instance bus (cluster/bus.py): every instance, this one included,
delivers them to its own sockets of that user, so a user's sockets on any instance of a
cluster get them. Sockets that subscribe with `batch: true` get `quotes:update` batches
instead of `quote:update`, conflated per socket and flushed every `QUOTE_BATCH_INTERVAL`
seconds (latest quote per symbol wins).

Every client event answers through its ack: `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}}`; a handler never raises into the transport, so
a bad payload never drops the connection. Event names, payloads, errors and limits are
documented in docs/WEBSOCKET.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from pydantic import ValidationError

from tradewire import metrics
from tradewire.accounts.sessions import SESSION_REVOKED, SessionInfo, SessionStore
from tradewire.api.deps import SESSION_COOKIE
from tradewire.cluster.bus import Bus, MemoryBus
from tradewire.market.cache import QuoteCache
from tradewire.market.feed import MarketFeed
from tradewire.ratelimit import RateLimiter
from tradewire.realtime.engine import ASGIApp, Engine, EngineConfig
from tradewire.realtime.fanout import BATCH_EVENT, QUOTE_EVENT, SOCKET_GROUPS, QuoteFanout
from tradewire.realtime.limits import MAX_TRACKED_EVENT_NAME, EventGuard
from tradewire.realtime.ops import (
    PROBE_INTERVAL,
    PROBE_SAMPLE,
    PROBE_TIMEOUT,
    STATS_INTERVAL,
    OpsMonitor,
)
from tradewire.realtime.recovery import (
    RECOVERABLE_REASONS,
    LoggedEvent,
    MemoryRecoveryStore,
    RecoveryStore,
    SavedSession,
    SentEvents,
)
from tradewire.realtime.rooms import Rooms
from tradewire.realtime.sockets import (
    DISCONNECT_DELAY,
    ConnectRefused,
    Namespace,
    Socket,
    SocketServer,
)
from tradewire.realtime.websocket import EngineWebSocket, websocket_protocol
from tradewire.rollout import RealtimeRollout, RolloutState
from tradewire.schemas import (
    CLIENT_EVENTS,
    PortfolioUpdate,
    Quote,
    QuoteBatch,
    RateLimitedEvent,
    RealtimeDisabledNotice,
    ShutdownNotice,
    TradeExecuted,
    TradeFailedEvent,
    UserEventFields,
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
"""The transport refuses a larger message: a POST body or a WebSocket message (binary
attachments included)."""
MAX_PACKETS_PER_POST = 500
"""Packets one long-polling POST may carry: a client flushes every event it emitted since its
last POST in one. The byte limit above still applies."""
MAX_BUFFERED_BYTES = 4 * 1024 * 1024
"""Bytes queued for one socket and not yet written (a client that stopped reading) before the
transport closes it."""
MAX_SOCKETS_PER_SESSION = 100
MAX_SOCKETS_PER_USER = 200
"""Sockets one login session / one user may hold open on one instance (tabs, devices, bots;
the load harness runs 50 sockets on one session)."""
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
CONNECT_TIMEOUT = 45.0
SHUTDOWN_RECONNECT_AFTER_MS = 1000
SAVE_BATCH = 500
"""Dropped sockets' sessions saved for recovery in one call to the store (one Redis pipeline);
the saver lets the loop run between batches, so 10,000 sockets dropping at once are saved
without one long stretch of the loop."""
SESSIONS_CHANNEL = "sessions"
USER_EVENTS_CHANNEL = "user-events"
"""Bus channel of user pushes: `{"userId", "event", "data"}` (and `"seq"` for the user events
that have one: it goes out as the event's recovery offset), delivered by every instance to its
own sockets in `user:{userId}`."""
GAP_GRACE = 2.0
"""Seconds a socket's gap in the user's `seq` may stay open (pushes from two instances may
cross) before the missing events are sent from the outbox."""
FILL_PAGE = 200
"""User events read from the outbox per user and sweep, to fill gaps."""
FILL_USERS_PER_SWEEP = 200
"""Users checked against the outbox per sweep after pushes may have been lost for all of them
(the bus resubscribed): a large instance spreads those reads over several seconds."""
RECOVERY_PRUNE_INTERVAL = 10.0
"""Seconds between sweeps of the recovery store (sessions and events past the window)."""
SOCKET_PATH = "/socket.io/"

Ack = dict[str, Any]
Handler = Callable[[Socket, "SocketState", Any], Awaitable[Ack]]


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

    socket: Socket
    session: SessionInfo
    transport: str
    connected_at: float
    symbols: set[str] = field(default_factory=set)
    batch: bool = False
    epoch: str | None = None
    """The user's event history as this socket last saw it (None: no event yet)."""
    connect_seq: int = 0
    """The user's last event `seq` when the socket connected (or recovered up to)."""
    pending: list[tuple[str, Any, int]] | None = None
    """While a recovered socket waits for its replay: the live user events that came meanwhile,
    `(event, data, seq)`, sent after the missed ones."""
    replay: list[tuple[str, Any, int]] = field(default_factory=list)
    """A recovered socket's missed user events, sent right after its CONNECT reply."""
    replay_quotes: list[Quote] = field(default_factory=list)
    sent: SentEvents = field(default_factory=lambda: SentEvents(known=False))
    """The user events sent to this socket: each once, and the gaps to fill from the outbox."""

    @property
    def sid(self) -> str:
        return self.socket.sid

    @property
    def user_id(self) -> int:
        return self.session.user_id


class RealtimeServer(Namespace):
    def __init__(
        self,
        settings: Settings,
        sessions: SessionStore,
        executor: TradeExecutor,
        feed: MarketFeed,
        quotes: QuoteCache,
        limiter: RateLimiter,
        bus: Bus | None = None,
        rollout: RealtimeRollout | None = None,
        recovery: RecoveryStore | None = None,
    ) -> None:
        self.settings = settings
        self.bus: Bus = bus if bus is not None else MemoryBus()
        self.rollout = rollout
        """Who may connect (rollout.py); None: everyone with a session."""
        self.sessions = sessions
        self.executor = executor
        self.feed = feed
        self.quotes = quotes
        self.guard = EventGuard(limiter)
        self.recovery_enabled = settings.recovery_window > 0
        self.recovery: RecoveryStore = recovery or MemoryRecoveryStore(
            settings.recovery_window, settings.recovery_log_size
        )
        """Saved sessions and recent user events (realtime/recovery.py): this instance's memory
        by default, Redis in a cluster, so a socket recovers on any instance."""
        self.socket_server = SocketServer(connect_timeout=CONNECT_TIMEOUT)
        self.socket_server.register("/", self)
        self.engine = Engine(
            EngineConfig(
                path=SOCKET_PATH,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                max_payload=MAX_MESSAGE_BYTES,
                max_packets=MAX_PACKETS_PER_POST,
                max_buffer=MAX_BUFFERED_BYTES,
                allowed_origins=tuple(settings.allowed_origins),
                handshake_rate=settings.socket_handshake_rate,
                handshake_burst=settings.socket_handshake_burst,
            ),
            self.socket_server,
        )
        self.socket_server.bind(self.engine)
        self.engine.on_handshake_refused = metrics.HANDSHAKES_REFUSED.inc
        self.rooms: Rooms[Socket] = Rooms()
        self.fanout = QuoteFanout(self.engine, self.rooms)
        # the quote paths' counters, looked up once rather than per quote or per flush
        self._quotes_emitted = metrics.MESSAGES_EMITTED.labels(event=QUOTE_EVENT)
        self._batches_emitted = metrics.MESSAGES_EMITTED.labels(event=BATCH_EVENT)
        self.accepting = True
        # sockets[sid]: what this instance knows of each of its sockets (sid: Socket.IO's);
        # batch_sockets: those that asked for batches
        self.sockets: dict[str, SocketState] = {}
        self.batch_sockets: dict[str, SocketState] = {}
        self._per_session: Counter[str] = Counter()
        self._per_user: Counter[int] = Counter()
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._to_save: deque[SavedSession] = deque()
        self._saving = False
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
        self._attached = False
        self._bus_subscriptions = 0
        self._user_emits: dict[int, _Turn] = {}
        """Users with a user event on its way: the next one waits its turn."""
        self._to_check: set[int] = set()
        """Users whose pushes may have been lost with no gap to show it (the bus resubscribed,
        or a publish for them failed): the sweeps check their sockets against the outbox."""

    # ------------------------------------------------------------ lifecycle

    def asgi_app(self, other: ASGIApp) -> Engine:
        """The ASGI app: Socket.IO's long-polling at `/socket.io/`, everything else `other`."""
        self.engine.other_app = other
        return self.engine

    def websocket_protocol(self) -> type[EngineWebSocket]:
        """The class for uvicorn's `ws=` option that serves this server's WebSockets."""
        return websocket_protocol(self.engine)

    def attach(self) -> None:
        """Connect domain events to the emit methods and start the transport. Once."""
        if self._attached:
            return
        self.executor.on(TRADE_EXECUTED, self.emit_trade_notification)
        self.executor.on(TRADE_FAILED, self.emit_trade_failed)
        self.executor.on(PORTFOLIO_UPDATED, self.emit_portfolio_update)
        self.feed.on("quote", self._on_quote)
        self.sessions.on(SESSION_REVOKED, self._announce_revocation)
        self.bus.subscribe(SESSIONS_CHANNEL, self._on_session_message)
        self.bus.subscribe(USER_EVENTS_CHANNEL, self._on_user_event)
        if self.rollout is not None:
            self.rollout.on_change(self._on_rollout_change)
        self.engine.start()
        self._flusher = asyncio.create_task(self._flush_batches_forever(), name="quote-batches")
        self._ops_task = asyncio.create_task(self._ops_forever(), name="ops")
        self._bus_subscriptions = self.bus.subscriptions
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
        self.bus.unsubscribe(USER_EVENTS_CHANNEL, self._on_user_event)
        if self.rollout is not None:
            self.rollout.remove_listener(self._on_rollout_change)
        for task in (self._flusher, self._ops_task):
            if task is not None:
                task.cancel()
        self._flusher = self._ops_task = None
        self._attached = False

    async def close(self) -> None:
        """Stop the transport's timers and close the recovery store; after `detach`."""
        await self.engine.stop()
        await self.recovery.close()

    async def shutdown(self) -> None:
        """Refuse new connections, tell every socket to reconnect elsewhere, disconnect them.
        A long-polling client gets the notice, the disconnect and Engine.IO's close in its
        waiting GET (or its next one)."""
        self.accepting = False
        for probe in list(self._probes):  # nobody waits for a round trip any more
            probe.cancel()
        notice = ShutdownNotice(reconnect_after_ms=SHUTDOWN_RECONNECT_AFTER_MS).wire()
        sockets = [state.socket for state in self.sockets.values()]
        for socket in sockets:
            self._emit_to(socket, "server:shutdown", notice)
        for socket in sockets:
            socket.disconnect()  # its DISCONNECT follows the notice, in a write of its own
        await asyncio.sleep(DISCONNECT_DELAY)
        log.info("realtime server stopped", extra={"sockets": len(sockets)})
        self.detach()
        await self.socket_server.drain()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)

    # ------------------------------------------------------------ connection

    async def connect(self, socket: Socket, auth: Any) -> None:
        started = time.perf_counter()
        if not self.accepting:
            raise ConnectRefused("shutting_down", {"code": "SHUTTING_DOWN"})
        request = socket.connection.request
        token = auth.get("sessionId") if isinstance(auth, dict) else None
        if token is None and request is not None:
            token = _cookie_token(request.headers.get("cookie", ""))
        session = await self.sessions.verify(token if isinstance(token, str) else None)
        metrics.HANDSHAKE_SECONDS.observe(time.perf_counter() - started)
        remote = request.remote if request is not None else None
        if session is None:
            metrics.AUTH_FAILURES.inc()
            log.info("connection refused: unauthorized", extra={"remote": remote})
            raise ConnectRefused("unauthorized", {"code": "UNAUTHORIZED"})
        if self.rollout is not None and not self.rollout.admits(session.user_id):
            log.info(
                "connection refused: real time is off for this user",
                extra={"user_id": session.user_id, "remote": remote},
            )
            raise ConnectRefused("realtime_disabled", {"code": "REALTIME_DISABLED"})
        if (
            self._per_session[session.session_key] >= MAX_SOCKETS_PER_SESSION
            or self._per_user[session.user_id] >= MAX_SOCKETS_PER_USER
        ):
            log.info(
                "connection refused: too many sockets",
                extra={"user_id": session.user_id, "remote": remote},
            )
            raise ConnectRefused("too_many_connections", {"code": "TOO_MANY_CONNECTIONS"})
        if not self.accepting or socket.connection.engine_socket.closed:
            raise ConnectRefused("shutting_down", {"code": "SHUTTING_DOWN"})
        state = SocketState(socket, session, socket.transport, time.monotonic())
        recovered = False
        if self.recovery_enabled:
            recovered = await self._recover(socket, state, auth)
            if not self.accepting or socket.connection.engine_socket.closed:
                raise ConnectRefused("shutting_down", {"code": "SHUTTING_DOWN"})
        socket.data = state
        self.sockets[socket.sid] = state
        self._per_session[session.session_key] += 1
        self._per_user[session.user_id] += 1
        self.rooms.join(socket, f"user:{session.user_id}")
        self.rooms.join(socket, f"session:{session.session_key}")
        metrics.CONNECTIONS.labels(transport=socket.transport).inc()
        metrics.CONNECTS.inc()
        log.info(
            "socket connected",
            extra={
                "user_id": session.user_id,
                "sid": socket.sid,
                "transport": socket.transport,
                "recovered": recovered,
            },
        )

    async def _recover(self, socket: Socket, state: SocketState, auth: Any) -> bool:
        """Connection-state recovery (realtime/recovery.py): with `{pid, offset}` in `auth` and
        that session still saved, for this user and login session, with every user event it
        missed still logged, the socket takes back its sid, pid and subscriptions, and `state`
        holds what to send it after the CONNECT reply. Otherwise it starts afresh, with a new
        pid. True when recovered."""
        user_id = state.user_id
        pid = auth.get("pid") if isinstance(auth, dict) else None
        offset = auth.get("offset") if isinstance(auth, dict) else None
        saved, after, missed = None, 0, None
        try:
            saved = await self.recovery.take(pid) if isinstance(pid, str) else None
            if saved is not None and (
                saved.user_id != user_id or saved.session_key != state.session.session_key
            ):
                saved = None
            if saved is not None:
                after = saved.seq
                if isinstance(offset, str) and offset.isdigit() and len(offset) <= 18:
                    after = max(after, int(offset))
                missed = await self.recovery.missed(user_id, saved.epoch, after)
        except Exception as exc:  # the store is unreachable: connect afresh, with snapshots
            log.warning(
                "socket state not recovered: store unavailable",
                extra={"user_id": user_id, "error": repr(exc)},
            )
            metrics.SOCKETS_RECOVERED.labels(outcome="store_unavailable").inc()
            saved = None
            pid = None  # counted already
        if saved is not None:
            if missed is not None:
                symbols = [s for s in saved.symbols if self.feed.is_known(s)]
                found = await self.quotes.latest_many(symbols)
                socket.sid, socket.pid = saved.sid, saved.pid
                state.symbols, state.batch = set(symbols), saved.batch
                state.sent = SentEvents(saved.epoch, after)
                state.epoch = missed[-1].epoch if missed else saved.epoch
                state.connect_seq = missed[-1].seq if missed else after
                state.replay = [(e.event, e.data, e.seq) for e in missed]
                state.replay_quotes = [found[s] for s in symbols if s in found]
                state.pending = []
                metrics.SOCKETS_RECOVERED.labels(outcome="recovered").inc()
                return True
            metrics.SOCKETS_RECOVERED.labels(outcome="events_gone").inc()
        elif isinstance(pid, str):
            metrics.SOCKETS_RECOVERED.labels(outcome="session_gone").inc()
        head = await self.executor.event_head(user_id)
        if head is not None:
            state.epoch, state.connect_seq = head
        state.sent = SentEvents(state.epoch, state.connect_seq)
        socket.pid = secrets.token_urlsafe(15)
        return False

    def connected(self, socket: Socket) -> None:
        """After the CONNECT reply: a recovered socket's missed user events (with their
        offsets), then the live ones that came during its connect, then the latest quote of
        each of its symbols; later pushes follow."""
        state: SocketState | None = socket.data
        if state is None or state.pending is None:
            return
        now = time.monotonic()
        for event, data, seq in [*state.replay, *state.pending]:
            if state.sent.note(_epoch_of(data), seq, now):
                socket.emit(event, data, str(seq))
                metrics.MESSAGES_EMITTED.labels(event=event).inc()
        if state.replay_quotes:
            if state.batch:
                batch = QuoteBatch(quotes=state.replay_quotes).wire()
                self._emit_to(socket, BATCH_EVENT, batch)
            else:
                for quote in state.replay_quotes:
                    self._emit_to(socket, QUOTE_EVENT, quote.wire())
        # its quote rooms only now, so that no live quote comes before the replay
        self.fanout.subscribe(socket, state.symbols, batch=state.batch)
        if state.batch and state.symbols:
            self.batch_sockets[socket.sid] = state
        state.replay, state.replay_quotes, state.pending = [], [], None

    def disconnected(self, socket: Socket, reason: str) -> None:
        state: SocketState | None = socket.data
        if state is None or self.sockets.get(socket.sid) is not state:
            return
        del self.sockets[socket.sid]
        if self.recovery_enabled and socket.pid is not None and reason in RECOVERABLE_REASONS:
            self._to_save.append(self._saved_session(socket, state))
            if not self._saving:
                self._saving = True
                self._spawn(self._save_sessions())
        self.batch_sockets.pop(socket.sid, None)
        self.ops_sockets.discard(socket.sid)
        self.guard.forget(socket.sid)
        self.rooms.leave_all(socket)
        _decrement(self._per_session, state.session.session_key)
        _decrement(self._per_user, state.user_id)
        metrics.CONNECTIONS.labels(transport=state.transport).dec()
        metrics.DISCONNECTS.labels(reason=reason).inc()
        log.info(
            "socket disconnected",
            extra={
                "user_id": state.user_id,
                "sid": socket.sid,
                "transport": state.transport,
                "reason": reason,
                "duration_s": round(time.monotonic() - state.connected_at, 3),
            },
        )

    def drained(self, socket: Socket) -> None:
        """Quotes were dropped for this socket while it did not read (engine.py, slow
        consumers); now it reads again: send it the latest quote of each of its symbols."""
        state: SocketState | None = socket.data
        if state is None or not state.symbols:
            return
        task = asyncio.create_task(self._resend_quotes(socket, state), name="quote-resync")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resend_quotes(self, socket: Socket, state: SocketState) -> None:
        try:
            found = await self.quotes.latest_many(sorted(state.symbols))
        except Exception as exc:
            log.warning("quote resync failed", extra={"sid": socket.sid, "error": repr(exc)})
            return
        if socket.connected and self.sockets.get(socket.sid) is state:
            self.fanout.resend(socket, found.values(), batch=state.batch)
            metrics.QUOTE_RESYNCS.inc()

    @staticmethod
    def _saved_session(socket: Socket, state: SocketState) -> SavedSession:
        assert socket.pid is not None
        return SavedSession(
            pid=socket.pid,
            sid=socket.sid,
            user_id=state.user_id,
            session_key=state.session.session_key,
            symbols=sorted(state.symbols),
            batch=state.batch,
            epoch=state.epoch,
            seq=state.connect_seq,
        )

    async def _save_sessions(self) -> None:
        """Save the dropped sockets' sessions, SAVE_BATCH at a time, until none wait."""
        try:
            while self._to_save:
                count = min(SAVE_BATCH, len(self._to_save))
                batch = [self._to_save.popleft() for _ in range(count)]
                try:
                    await self.recovery.save_many(batch)
                except Exception as exc:
                    log.warning(
                        "socket state not saved for recovery",
                        extra={"sockets": len(batch), "error": repr(exc)},
                    )
                await asyncio.sleep(0)
        finally:
            self._saving = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def disconnect(self, sid: str) -> bool:
        """Disconnect one of this instance's sockets (the client gets DISCONNECT)."""
        state = self.sockets.get(sid)
        if state is None:
            return False
        state.socket.disconnect()
        return True

    def _on_rollout_change(self, state: RolloutState) -> None:
        """The rollout changed: the sockets of users now outside it get `realtime:disabled`,
        then a disconnect (in a write of its own, as after `server:shutdown`)."""
        reason = "disabled" if not state.enabled else "not_in_rollout"
        notice = RealtimeDisabledNotice(reason=reason).wire()
        outside = [s.socket for s in self.sockets.values() if not state.admits(s.user_id)]
        for socket in outside:
            self._emit_to(socket, "realtime:disabled", notice)
        for socket in outside:
            socket.disconnect()
        log.info(
            "realtime rollout applied",
            extra={
                "enabled": state.enabled,
                "percent": state.percent,
                "disconnected": len(outside),
            },
        )

    @property
    def pubsub_flowing(self) -> bool:
        """True unless the instance bus's heartbeat stopped coming back (cluster/bus.py)."""
        return self.bus.flowing

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
        sockets = list(self.rooms.of(f"session:{session_key}"))
        for socket in sockets:
            socket.disconnect()
        if sockets:
            log.info(
                "session revoked; sockets disconnected",
                extra={"user_id": user_id, "sockets": len(sockets)},
            )

    # ------------------------------------------------------------ client events

    async def event(self, socket: Socket, event: str, args: list[Any]) -> list[Any] | None:
        ack = await self.handle_event(socket.sid, event, args[0] if args else None)
        return None if ack is None else [ack]

    async def handle_event(self, sid: str, event: str, payload: Any = None) -> Ack | None:
        """Every client event: rate limit, validate, dispatch; the result is the ack."""
        state = self.sockets.get(sid)
        if state is None:
            return None
        socket = state.socket
        handler = self._handlers.get(event)
        label = event if handler else "*"
        metrics.EVENTS_RECEIVED.labels(event=label).inc()
        retry_ms = await self.guard.check(state.user_id, event)
        if retry_ms is not None:
            notice = RateLimitedEvent(
                event=event[:MAX_TRACKED_EVENT_NAME], retry_after_ms=retry_ms
            ).wire()
            self._emit_to(socket, "rate_limited", notice)
            if self.guard.record_rejection(sid):
                metrics.FLOOD_DISCONNECTS.inc()
                log.warning(
                    "socket disconnected for flooding",
                    extra={"user_id": state.user_id, "sid": sid, "event": label},
                )
                # after this event's ack and notice went out
                asyncio.get_running_loop().call_soon(socket.disconnect)
            return fail("RATE_LIMITED", "Too many requests; slow down.", retryAfterMs=retry_ms)
        if handler is None:
            return fail("UNKNOWN_EVENT", "Unknown event.")
        if CLIENT_EVENTS[event].payload is None and payload not in (None, {}):
            # the socket's own user is the only subject: nothing in a payload may name another
            return fail("VALIDATION_ERROR", "payload: this event takes no payload")
        try:
            return await handler(socket, state, payload)
        except ValidationError as exc:
            return fail("VALIDATION_ERROR", validation_message(exc))
        except Exception:
            log.exception(
                "event handler failed", extra={"user_id": state.user_id, "sid": sid, "event": event}
            )
            return fail("INTERNAL", "Something went wrong on our side; try again.")

    async def _subscribe_portfolio(self, socket: Socket, state: SocketState, _: Any) -> Ack:
        portfolio = await self.executor.portfolio(state.user_id)
        return ok(portfolio=portfolio.wire())

    async def _subscribe_trades(self, socket: Socket, state: SocketState, _: Any) -> Ack:
        trades = await self.executor.trades(state.user_id, TRADES_SNAPSHOT)
        return ok(trades=[t.wire() for t in trades])

    async def _subscribe_watchlist(self, socket: Socket, state: SocketState, payload: Any) -> Ack:
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
        self.fanout.subscribe(socket, new, batch=state.batch)
        if state.batch:
            self.batch_sockets[socket.sid] = state
        else:
            self.batch_sockets.pop(socket.sid, None)
        found = await self.quotes.latest_many(symbols)
        return ok(quotes=[found[s].wire() for s in symbols if s in found])

    async def _unsubscribe_watchlist(self, socket: Socket, state: SocketState, payload: Any) -> Ack:
        req = WatchlistSubscribe.model_validate(payload)
        state.symbols.difference_update(req.symbols)
        self.fanout.unsubscribe(socket, req.symbols)
        if not state.symbols:
            self.batch_sockets.pop(socket.sid, None)
        return ok(symbols=sorted(state.symbols))

    async def _subscribe_ops(self, socket: Socket, state: SocketState, _: Any) -> Ack:
        """Admins only: `ops:stats` pushes of this instance every `STATS_INTERVAL` seconds."""
        if state.session.role != "admin":
            return fail("FORBIDDEN", "The ops view is for administrators.")
        self.ops_sockets.add(socket.sid)
        return ok(stats=self.ops_snapshot())

    async def _unsubscribe_ops(self, socket: Socket, state: SocketState, _: Any) -> Ack:
        self.ops_sockets.discard(socket.sid)
        return ok()

    def ops_snapshot(self) -> dict[str, Any]:
        return self.ops.snapshot(len(self.sockets), self.instance_name)

    async def _ops_forever(self) -> None:
        """Push `ops:stats` to subscribed admins, and probe a sample of clients' round trip."""
        last_probe = last_prune = 0.0
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            try:
                self.guard.prune()
                await self._fill_gaps()
                if time.monotonic() - last_prune >= RECOVERY_PRUNE_INTERVAL:
                    last_prune = time.monotonic()
                    await self.recovery.prune()
                if self.ops_sockets:
                    stats = self.ops_snapshot()
                    for sid in list(self.ops_sockets):
                        if (state := self.sockets.get(sid)) is not None:
                            self._emit_to(state.socket, "ops:stats", stats)
                if time.monotonic() - last_probe >= PROBE_INTERVAL and self.sockets:
                    last_probe = time.monotonic()
                    sample = random.sample(list(self.sockets), min(PROBE_SAMPLE, len(self.sockets)))
                    for sid in sample:
                        probe = asyncio.ensure_future(self._probe(self.sockets[sid].socket))
                        self._probes.add(probe)
                        probe.add_done_callback(self._probes.discard)
            except Exception:
                log.exception("ops step failed")

    async def _fill_gaps(self) -> int:
        """Send sockets the user events they have not had, from the outbox (the database): to
        those with a gap in `seq` open for `GAP_GRACE`, and to the sockets of users whose pushes
        may have been lost (`_to_check`: every user after the bus resubscribed, a user whose
        publish failed), `FILL_USERS_PER_SWEEP` of those a sweep. Returns how many were sent."""
        if self.bus.subscriptions != self._bus_subscriptions:  # pushes may have been lost
            self._bus_subscriptions = self.bus.subscriptions
            self._to_check.update(state.user_id for state in self.sockets.values())
        checking: set[int] = set()
        while self._to_check and len(checking) < FILL_USERS_PER_SWEEP:
            checking.add(self._to_check.pop())
        now = time.monotonic()
        users: dict[int, list[SocketState]] = {}
        for state in self.sockets.values():
            sent = state.sent
            if state.pending is not None or not sent.known:
                continue
            gapped = sent.gap_since is not None and now - sent.gap_since >= GAP_GRACE
            if gapped or state.user_id in checking:
                users.setdefault(state.user_id, []).append(state)
        filled = 0
        for user_id, states in users.items():
            try:
                page = await self.executor.events_after(
                    user_id, min(s.sent.floor for s in states), FILL_PAGE
                )
            except Exception as exc:  # the database is away: next sweep
                log.warning("user events not filled", extra={"error": repr(exc)})
                self._to_check.update(checking & users.keys())
                return filled
            checking.discard(user_id)
            for e in page.events:
                data = e.data.wire()
                for state in states:
                    if (
                        self.sockets.get(state.sid) is state
                        and state.sent.epoch in (None, e.epoch)
                        and state.sent.note(e.epoch, e.seq, now)
                    ):
                        state.epoch = e.epoch
                        state.socket.emit(e.event, data, str(e.seq))
                        metrics.USER_EVENTS_FILLED.inc()
                        filled += 1
        if filled:
            log.info("user events filled from the outbox", extra={"events": filled})
        return filled

    async def _probe(self, socket: Socket) -> None:
        """One latency probe: `latency:ping` with an ack, timed."""
        started = time.perf_counter()
        try:
            await socket.call(
                "latency:ping", {"ts": int(time.time() * 1000)}, timeout=PROBE_TIMEOUT
            )
        except TimeoutError:
            metrics.CLIENT_PROBE_TIMEOUTS.inc()
            return
        except ConnectionError:  # the socket went away meanwhile
            return
        seconds = time.perf_counter() - started
        metrics.CLIENT_RTT_SECONDS.observe(seconds)
        self.ops.client_rtt.add(seconds)

    # ------------------------------------------------------------ emits (server -> client)

    async def emit_portfolio_update(self, user_id: int, portfolio: PortfolioUpdate) -> None:
        await self.emit_user_event(user_id, "portfolio:update", portfolio)

    async def emit_trade_notification(self, user_id: int, trade: TradeExecuted) -> None:
        await self.emit_user_event(user_id, "trade:executed", trade)

    async def emit_trade_failed(self, user_id: int, failed: TradeFailedEvent) -> None:
        await self.emit_user_event(user_id, "trade:failed", failed)

    async def emit_user_event(self, user_id: int, event: str, payload: UserEventFields) -> bool:
        """A user event (its `seq` and `epoch` given by the outbox): logged for sockets that
        will recover, then pushed like `emit_to_user`, with `seq` as its recovery offset.

        One user's events go out one after the other, in the order they were emitted (a fill's
        `trade:executed`, then its `portfolio:update`): each is logged and published before the
        next starts, so a log in Redis, a network round trip, cannot swap them on the way."""
        data = payload.wire()
        turn = self._user_emits.get(user_id)
        if turn is None:
            turn = self._user_emits[user_id] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                if self.recovery_enabled:
                    try:
                        logged = LoggedEvent(payload.seq, payload.epoch, event, data)
                        await self.recovery.append(user_id, logged)
                    except Exception as exc:
                        # the push still goes; a log with a gap recovers no socket
                        log.warning(
                            "user event not logged for recovery",
                            extra={"user_id": user_id, "event": event, "error": repr(exc)},
                        )
                return await self.emit_to_user(user_id, event, data, seq=payload.seq)
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._user_emits[user_id]

    async def emit_to_user(
        self, user_id: int, event: str, data: Any, *, seq: int | None = None
    ) -> bool:
        """Push to every socket of a user, on every instance (through the bus). Never raises:
        a failed publish is logged with context, counted, and False."""
        message: dict[str, Any] = {"userId": user_id, "event": event, "data": data}
        if seq is not None:
            message["seq"] = seq
        try:
            await self.bus.publish(USER_EVENTS_CHANNEL, message)
        except Exception as exc:
            self._to_check.add(user_id)  # the outbox has it: a sweep sends it
            metrics.EMIT_FAILURES.labels(event=event).inc()
            log.error(
                "emit failed",
                extra={"event": event, "error": repr(exc), "room": f"user:{user_id}"},
            )
            return False
        return True

    def _on_user_event(self, message: dict[str, Any]) -> None:
        """Bus handler: a user push, delivered to this instance's sockets of that user."""
        user_id, event = message.get("userId"), message.get("event")
        if not isinstance(user_id, int) or not isinstance(event, str):
            return
        sockets = self.rooms.of(f"user:{user_id}")
        if not sockets:
            return
        data, seq = message.get("data"), message.get("seq")
        if isinstance(seq, int):
            live = []
            epoch, now = _epoch_of(data), time.monotonic()
            for socket in sockets:
                state: SocketState = socket.data
                if state.pending is not None:  # a recovering socket: after its replay
                    state.pending.append((event, data, seq))
                    continue
                if not state.sent.note(epoch, seq, now):
                    continue  # sent already (from the outbox, after a gap)
                state.epoch = epoch
                live.append(socket)
            sent = self.socket_server.broadcast(live, "/", event, data, str(seq))
        else:
            sent = self.socket_server.broadcast(list(sockets), "/", event, data)
        metrics.MESSAGES_EMITTED.labels(event=event).inc()
        self.ops.messages.total += 1
        if event == "trade:executed" and sent:
            seconds = metrics.observe_order_to_trade()
            if seconds is not None:
                self.ops.trade_latency.add(seconds)

    def _emit_to(self, socket: Socket, event: str, data: Any) -> None:
        socket.emit(event, data)
        metrics.MESSAGES_EMITTED.labels(event=event).inc()
        self.ops.messages.total += 1

    async def emit_quote_update(self, quote: Quote) -> None:
        self.push_quote(quote)

    def push_quote(self, quote: Quote) -> None:
        """Push a quote to this instance's plain subscribers; keep it for the batching ones.

        Synchronous and never raises: the feed calls it on every tick. Every instance gets
        every quote from the feed, so each reaches only its own sockets."""
        try:
            self.fanout.publish(quote)
        except Exception as exc:
            metrics.EMIT_FAILURES.labels(event=QUOTE_EVENT).inc()
            log.error("emit failed", extra={"event": QUOTE_EVENT, "error": repr(exc)})
            return
        self._quotes_emitted.inc()
        self.ops.messages.total += 1
        self.ops.quote_latency.add(metrics.observe_quote_delivery(quote.ts))

    # ------------------------------------------------------------ quotes

    def _on_quote(self, quote: Quote) -> None:
        """Feed listener (sync, on the feed's hot path)."""
        self.push_quote(quote)

    async def _flush_batches_forever(self) -> None:
        """Flush the batching sockets' groups in turn, each after its share of the interval:
        every socket gets at most one batch per `QUOTE_BATCH_INTERVAL`, and the writes of one
        round are spread over it rather than made in one burst. With nothing to flush it waits
        for the next quote instead (a timer every 6 ms cost an idle server 3 % of a core here)."""
        while True:
            await self.fanout.has_pending.wait()
            for group in range(SOCKET_GROUPS):
                await asyncio.sleep(QUOTE_BATCH_INTERVAL / SOCKET_GROUPS)
                try:
                    self.flush_batches(group)
                except Exception:
                    log.exception("quote batch flush failed")

    def flush_batches(self, group: int | None = None) -> int:
        """Send each batching socket of `group` (default: every socket) the latest quotes of its
        symbols since that group's last flush."""
        frames = self.fanout.flush(group)
        if frames:
            self._batches_emitted.inc(frames)
            self.ops.messages.total += frames
        return frames


@dataclass(slots=True)
class _Turn:
    """One user's user events in flight: they go out one at a time, in order (FIFO lock)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _decrement(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _cookie_token(header: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(SESSION_COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def _epoch_of(data: Any) -> str:
    """A user event payload's `epoch` ("" when it has none: not one of ours)."""
    epoch = data.get("epoch") if isinstance(data, dict) else None
    return epoch if isinstance(epoch, str) else ""
