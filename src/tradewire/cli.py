"""The `tradewire` command: serve, migrate, manage users."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

import click
import uvicorn

from tradewire.settings import Settings

if TYPE_CHECKING:
    from tradewire.app import Services

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 8
"""In-flight requests get this long after SIGTERM; the whole stop stays under 10 s."""


class GracefulServer(uvicorn.Server):
    """uvicorn, plus a first shutdown step of our own: on SIGTERM/SIGINT, Socket.IO clients are
    told to reconnect elsewhere and disconnected *before* uvicorn stops serving; then in-flight
    requests finish and the process exits 0. A second signal forces the exit.

    (Plain uvicorn re-raises the signal after its shutdown, so the process would die "killed by
    SIGTERM"; a graceful stop is a success.)"""

    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self.services = services
        self._stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping:
            self.force_exit = True
            return
        self._stopping = True
        log.info("shutdown requested", extra={"signal": signal.Signals(sig).name})
        asyncio.get_event_loop().call_soon_threadsafe(
            lambda: asyncio.ensure_future(self._graceful())
        )

    async def _graceful(self) -> None:
        try:
            await asyncio.wait_for(self.services.prepare_shutdown(), timeout=3)
        except Exception:
            log.exception("realtime shutdown step failed; stopping anyway")
        self.should_exit = True


@click.group()
def main() -> None:
    """tradewire: real-time paper trading service."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: PORT or 8000).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level (default: LOG_LEVEL or info).",
)
def serve(host: str | None, port: int | None, log_level: str | None) -> None:
    """Run the service: REST API, Socket.IO and the dashboard on one port."""
    from tradewire.app import create_app, websocket_protocol
    from tradewire.logs import configure_logging

    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "log_level": log_level}.items()
        if v is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws=websocket_protocol(app),
        ws_per_message_deflate=False,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        proxy_headers=True,
        lifespan="on",
    )
    log.info("serving", extra={"url": f"http://{settings.host}:{settings.port}"})
    tune_garbage_collector()
    GracefulServer(config, app.state.services).run()


GC_THRESHOLDS = (10_000, 3, 300)
"""Allocations (minus frees) before a young-generation collection, then young collections per
middle one, middle per full one. Python's defaults, (700, 10, 10), are made for small heaps: a
server with thousands of sockets churns through short-lived objects (frames, dicts per
message, each HTTP connection's parser) and at the defaults spends a large share of its time in
collections that find almost nothing. Each pass stops the process for as long as it takes to
walk its generations, so the thresholds also bound the pauses. In a 10,000-socket
reconnection storm (docs/BENCHMARKS.md, "Reconnection storm"), at (50_000, 20, 100) a middle
pass walked up to a million objects and stopped the event loop for 0.9 s; at (10_000, 10, 100)
middle passes took up to 0.25-0.5 s; at these, every young and middle pass took less than
0.1 s. A full pass walks every live object (about 1 s with 10,000 sockets); Python starts one
only once the objects that survived into the oldest generation since the last one are a
quarter of those it then kept, so they stay rare."""


def tune_garbage_collector() -> None:
    """Move what start-up made (modules, the app) out of the collector's sight, collect less
    often than Python's defaults, and time every pass (`tradewire_gc_pause_seconds`). Cycles
    are still collected; only their cadence changes."""
    from tradewire import metrics

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    metrics.watch_garbage_collector()


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration."""
    from tradewire.storage.database import upgrade as run_upgrade

    settings = Settings()
    run_upgrade(settings.resolved_database_url)
    click.echo("database is up to date")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, admin: bool, password_stdin: bool) -> None:
    """Create USERNAME; the password is asked for (or read from stdin)."""
    from pydantic import TypeAdapter, ValidationError

    from tradewire.schemas import Credentials

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        creds = TypeAdapter(Credentials).validate_python(
            {"username": username, "password": password}
        )
    except ValidationError as exc:
        raise click.UsageError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    asyncio.run(_create_user(creds.username, creds.password, "admin" if admin else "user"))


async def _create_user(username: str, password: str, role: str) -> None:
    from tradewire.accounts.users import UserService
    from tradewire.errors import Conflict
    from tradewire.storage.database import Database

    settings = Settings()
    database = Database(settings.resolved_database_url)
    try:
        await database.upgrade()
        user = await UserService(database, settings.starting_cash).register(
            username, password, role=role
        )
    except Conflict as exc:
        raise click.ClickException(exc.message) from None
    finally:
        await database.close()
    click.echo(f"created user {user.username} (id {user.id}, role {role})")


@main.command("protocol-test-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=3000, show_default=True, help="Port to listen on.")
def protocol_test_server(host: str, port: int) -> None:
    """Serve the transport as the public Socket.IO / Engine.IO protocol test suites expect."""
    from tradewire.realtime.conformance import serve as serve_conformance

    serve_conformance(host, port)
