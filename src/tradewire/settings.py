"""Service settings, read once from the environment (and an optional `.env` file).

Every variable is documented in `.env.example` and the README. Nothing else in the service
reads `os.environ`.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- serving ---
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Other browser origins allowed for REST (CORS, with credentials), for cookie-authenticated
    writes (the CSRF check) and for the Socket.IO handshake. Empty: same-origin only (the
    service's own address, and whatever `Host` a request names, which covers the Vite dev
    server's proxy)."""
    dashboard_dir: Path | None = None
    """Built dashboard to serve at `/`; default: `dashboard/dist` next to the source tree."""

    # --- storage ---
    data_dir: Path = Path("data")
    database_url: str = ""
    """Empty: a SQLite file `tradewire.db` in `data_dir`. Or `postgresql+asyncpg://...`."""
    redis_url: str = ""
    """Empty: one process, in-memory manager and limits. `redis://...`: cluster mode."""

    # --- accounts ---
    session_ttl: int = Field(default=86_400, ge=60)
    """Seconds a login session lives."""
    starting_cash: Decimal = Field(default=Decimal("100000.00"), ge=0)
    auth_rate_limit: str = "20/minute"
    """Login and register attempts per client address (a `limits` expression)."""
    seed_demo: bool = True
    """Create the demo account (demo / demo-password) when it does not exist."""
    cookie_secure: bool | Literal["auto"] = "auto"
    """`Secure` on the session cookie (login and logout alike). `auto`: Secure unless the
    request came over plain http to a loopback address (`make run`, the tests), so any HTTPS
    deployment, or one reached by another name, gets it; `true` / `false` force it."""

    # --- request limits ---
    max_body_bytes: int = Field(default=65_536, ge=1024)
    """Largest request body for REST endpoints without a smaller limit (413 above it)."""
    max_auth_body_bytes: int = Field(default=4096, ge=256)
    """Largest body for `/api/auth/*` (login, register, logout), which anyone may call."""
    max_order_body_bytes: int = Field(default=16_384, ge=256)
    """Largest body for `/api/orders`."""

    # --- market ---
    market_source: Literal["simulated", "replay"] = "simulated"
    market_symbols: str = "50"
    """How many simulated symbols (a number), or a comma-separated list of tickers."""
    market_tick_rate: float = Field(default=1.0, gt=0, le=1000)
    """Mean ticks per second per symbol (each symbol ticks as a Poisson process)."""
    market_seed: int | None = None
    """Seed for a reproducible simulated market."""
    market_replay_file: Path | None = None
    """CSV of ticks for `MARKET_SOURCE=replay`; default: the shipped sample."""
    market_replay_speed: float = Field(default=1.0, gt=0)
    market_replay_loop: bool = True

    # --- real-time ---
    realtime_enabled: bool = True
    """Start default of the real-time switch: `false` refuses every Socket.IO handshake (the
    dashboard polls) until an administrator turns it on (`PUT /api/admin/realtime`)."""
    realtime_rollout_percent: int = Field(default=100, ge=0, le=100)
    """Start default of the share of users (0-100, by a stable hash of the user id) that get
    real time while it is on. A state set by an administrator wins over both (docs/DEPLOYMENT.md,
    "Rollout")."""
    socket_handshake_rate: float = Field(default=500.0, ge=0)
    """New Socket.IO connections admitted per second on an instance (0: no limit); past it a
    handshake is answered 503 with `Retry-After`, and clients retry with their back-off."""
    socket_handshake_burst: int = Field(default=1000, ge=1)
    """New connections admitted at once before `SOCKET_HANDSHAKE_RATE` applies."""
    recovery_window: float = Field(default=120.0, ge=0)
    """Seconds a dropped socket's state (its subscriptions, the user events it missed) is kept
    for it to recover (Socket.IO connection-state recovery), in memory or, with `REDIS_URL`,
    in Redis for every instance; 0 turns recovery off."""
    recovery_log_size: int = Field(default=1000, ge=1)
    """User events kept per user for recovering sockets (in memory, or a Redis stream with
    `REDIS_URL`); a socket that missed more is not recovered (`GET /api/events` still has
    them)."""
    outbox_max_age: float = Field(default=7 * 86_400, gt=0)
    """Seconds a user event stays in the outbox (`GET /api/events`)."""
    outbox_max_per_user: int = Field(default=10_000, ge=1)
    """User events kept in the outbox per user (the newest)."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL. A plain `postgres://` or `postgresql://` URL (as hosting
        platforms hand out) gets the asyncpg driver the service needs."""
        url = self.database_url
        for plain in ("postgres://", "postgresql://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url.removeprefix(plain)
        if url:
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tradewire.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def allowed_origins(self) -> list[str]:
        own = {
            f"http://{self.host}:{self.port}",
            f"http://localhost:{self.port}",
            f"http://127.0.0.1:{self.port}",
        }
        return sorted(own | set(self.cors_origins))
