"""The ASGI application: REST API, Socket.IO and the dashboard on one port.

`Services` owns every long-lived part and their start/stop order; `create_app` builds the ASGI
app around it. Data flows one way: market feed -> quote cache -> realtime emit; REST order ->
executor -> database -> executor event -> realtime emit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from tradewire import metrics
from tradewire.accounts.sessions import SessionStore
from tradewire.accounts.users import UserService, default_watchlist
from tradewire.api import admin, auth, health, market, ops, trading
from tradewire.api import metrics as metrics_api
from tradewire.api.body_limit import BodyLimitMiddleware, BodyLimits
from tradewire.api.csrf import CsrfMiddleware
from tradewire.api.errors import error_response, install_error_handlers
from tradewire.api.request_id import RequestIdMiddleware
from tradewire.cluster.bus import Bus, bus_from_url
from tradewire.cluster.leader import LeaderLease
from tradewire.market.bars import BarRecorder, BarStore, bar_store_from_url
from tradewire.market.cache import QuoteCache, quote_cache_from_url
from tradewire.market.feed import PUBLISHED, MarketFeed, build_feed
from tradewire.ratelimit import RateLimiter, storage_from_url
from tradewire.realtime.recovery import recovery_store_from_url
from tradewire.realtime.server import RealtimeServer
from tradewire.rollout import RealtimeRollout, RolloutState, rollout_store_from_url
from tradewire.settings import Settings
from tradewire.storage.database import Database
from tradewire.tasks import cancel_and_wait
from tradewire.trading.executor import TradeExecutor

log = logging.getLogger(__name__)

DEFAULT_DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboard" / "dist"


OUTBOX_PRUNE_SECONDS = 600.0
"""How often the user events past `OUTBOX_MAX_AGE` / `OUTBOX_MAX_PER_USER` are deleted."""
BOOK_RELOAD_SECONDS = 15.0
"""How often the matching instance reloads resting orders from the database (a safety net for
book announcements lost while Redis was unreachable)."""


@dataclass
class Services:
    """Every long-lived part of one instance. With `REDIS_URL` set the instance is one of a
    cluster: the bus (quotes, user pushes), the quote cache, the one-minute bars and rate limits
    live in Redis, and the feed runs on whichever instance holds the leader lease (which alone
    records the bars).

    The realtime server is always built and attached: `REALTIME_ENABLED` and
    `REALTIME_ROLLOUT_PERCENT` are only the rollout's start state (rollout.py), which an
    administrator changes at run time; users outside it are refused at the handshake."""

    settings: Settings
    db: Database
    users: UserService
    sessions: SessionStore
    bus: Bus
    quotes: QuoteCache
    feed: MarketFeed
    executor: TradeExecutor
    limiter: RateLimiter
    rollout: RealtimeRollout
    realtime: RealtimeServer
    bars: BarStore
    bar_recorder: BarRecorder = field(init=False)
    lease: LeaderLease = field(init=False)
    _maintenance: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.lease = LeaderLease(self.settings.redis_url, self._lead, self._follow)
        self.bar_recorder = BarRecorder(self.bars)

    @property
    def cluster(self) -> bool:
        return bool(self.settings.redis_url)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.resolved_database_url)
        bus = bus_from_url(settings.redis_url)
        quotes = quote_cache_from_url(settings.redis_url)
        # one process: the feed emits to its own listeners; a cluster: through the bus
        feed = build_feed(settings, quotes, bus if settings.redis_url else None)
        executor = TradeExecutor(db, quotes, feed.is_known, bus)
        sessions = SessionStore(db, settings.session_ttl)
        limiter = RateLimiter(storage_from_url(settings.redis_url))
        rollout = RealtimeRollout(
            rollout_store_from_url(settings.redis_url),
            bus,
            RolloutState(settings.realtime_enabled, settings.realtime_rollout_percent),
            refresh=bool(settings.redis_url),
        )
        recovery = recovery_store_from_url(
            settings.redis_url, settings.recovery_window, settings.recovery_log_size
        )
        realtime = RealtimeServer(
            settings, sessions, executor, feed, quotes, limiter, bus, rollout, recovery
        )
        users = UserService(
            db, settings.starting_cash, default_watchlist=default_watchlist(feed.symbols)
        )
        bars = bar_store_from_url(settings.redis_url)
        return cls(
            settings,
            db,
            users,
            sessions,
            bus,
            quotes,
            feed,
            executor,
            limiter,
            rollout,
            realtime,
            bars,
        )

    async def start(self) -> None:
        await self.db.upgrade()
        if self.settings.seed_demo:
            await self.users.ensure_demo()
        await self.bus.start()
        await self.rollout.start()
        resting = await self.executor.load_book()
        self.executor.matching = False
        self.feed.on("quote", self.executor.on_quote)
        self.bar_recorder.start()
        self.feed.on(PUBLISHED, self.bar_recorder.on_quote)
        self.realtime.attach()
        await self.lease.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="maintenance")
        if self.cluster:
            metrics.track_pubsub(lambda: all(self.cluster_checks().values()))
        log.info(
            "tradewire started",
            extra={
                "database": "sqlite" if self.db.is_sqlite else "postgresql",
                "cluster": bool(self.settings.redis_url),
                "symbols": len(self.feed.symbols),
                "resting_orders": resting,
                "realtime_enabled": self.rollout.current.enabled,
                "realtime_percent": self.rollout.current.percent,
                "feed_leader": self.lease.is_leader,
            },
        )

    async def prepare_shutdown(self) -> None:
        """First step of a graceful stop, before the HTTP server stops: tell sockets to go."""
        await self.realtime.shutdown()

    async def stop(self) -> None:
        await cancel_and_wait(self._maintenance)
        await self.lease.stop()  # stops the feed here, and hands it over at once
        self.feed.remove_listener("quote", self.executor.on_quote)
        self.feed.remove_listener(PUBLISHED, self.bar_recorder.on_quote)
        await self.bar_recorder.stop()
        self.realtime.detach()
        await self.realtime.close()
        await self.executor.drain()
        await self.rollout.close()
        await self.bus.close()
        await self.quotes.close()
        await self.bars.close()
        await self.db.close()
        log.info("tradewire stopped")

    async def _lead(self) -> None:
        """This instance got the feed: match the book (reloaded: the database is the authority)
        and run the source from where the market stands."""
        await self.executor.load_book()
        self.executor.matching = True
        await self.feed.start()

    async def _follow(self) -> None:
        self.executor.matching = False
        await self.feed.stop()

    async def _maintain(self) -> None:
        last_prune = 0.0
        while True:
            await asyncio.sleep(BOOK_RELOAD_SECONDS)
            try:
                if self.cluster and self.executor.matching:
                    await self.executor.load_book()
                if time.monotonic() - last_prune >= OUTBOX_PRUNE_SECONDS:
                    last_prune = time.monotonic()
                    pruned = await self.executor.prune_events(
                        self.settings.outbox_max_age, self.settings.outbox_max_per_user
                    )
                    if pruned:
                        log.info("outbox pruned", extra={"events": pruned})
            except Exception:
                log.exception("maintenance step failed")

    def cluster_checks(self) -> dict[str, bool]:
        """In a cluster: do messages published through Redis come back? The instance bus also
        carries every user push, so it is the one heartbeat."""
        if not self.cluster:
            return {}
        return {"bus": self.bus.flowing}

    async def readiness(self) -> dict[str, bool]:
        return {"database": await self.db.ping(), **self.cluster_checks()}


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI app: Socket.IO wraps the REST app (whatever the rollout state: a user outside
    it is refused at the Socket.IO handshake, not by a missing endpoint)."""
    settings = settings or Settings()
    services = Services.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    api = FastAPI(
        title="tradewire",
        version="0.1.0",
        lifespan=lifespan,
        description="Paper trading with real-time pushes. Errors are "
        '`{"error": {"code", "message"}}`.',
    )
    api.state.services = services
    api.state.fastapi = api
    # outermost last: request id, body limit (before anything reads the body), the CSRF
    # check, CORS (answers preflights; no CORS headers for an origin not allowed)
    api.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
    )
    api.add_middleware(CsrfMiddleware, allowed_origins=settings.allowed_origins)
    api.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits(
            default=settings.max_body_bytes,
            auth=settings.max_auth_body_bytes,
            orders=settings.max_order_body_bytes,
        ),
    )
    api.add_middleware(RequestIdMiddleware)
    install_error_handlers(api)
    for router in (
        health.router,
        auth.router,
        market.router,
        trading.router,
        ops.router,
        admin.router,
        metrics_api.router,
    ):
        api.include_router(router)
    mount_dashboard(api, settings.dashboard_dir or DEFAULT_DASHBOARD_DIR)
    outer = services.realtime.asgi_app(api)
    outer.state = api.state  # so `create_app().state.services` works either way
    return outer


def websocket_protocol(app: Any) -> Any:
    """What `create_app`'s app needs as uvicorn's `ws=` option: the class that serves its
    Socket.IO WebSockets."""
    return app.state.services.realtime.websocket_protocol()


def mount_dashboard(api: FastAPI, dist: Path) -> None:
    """Serve the built dashboard at `/`, with index.html for client-side routes."""
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        api.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")

    @api.get("/{path:path}", include_in_schema=False)
    def spa(path: str) -> Response:
        # sync on purpose: FastAPI runs it in a thread, so file checks never block the loop
        if path.startswith(("api/", "socket.io")):
            return error_response(404, "NOT_FOUND", "No such endpoint.")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return error_response(
            404,
            "DASHBOARD_NOT_BUILT",
            "The dashboard is not built: run `make run` (or `make dashboard`).",
        )
