"""The database engine and unit of work.

SQLite (the embedded default) runs in WAL mode with foreign keys on, and every transaction
starts with `BEGIN IMMEDIATE`, so concurrent writers queue on SQLite's write lock instead of
failing with "database is locked" half-way through a fill. PostgreSQL uses its defaults.

Two ways in:
- `transaction()` / `reader()`: an `AsyncSession` for a block of awaits;
- `run(work)` / `read(work)`: one synchronous function of a `Session`, the whole unit at once.
  On a SQLite file it runs on the database's own thread with the standard-library driver: one
  thread hop per transaction instead of one per statement (aiosqlite), about a quarter of the
  CPU for an order's fill. Writes go through a single thread, so this process never waits on
  its own write lock. On PostgreSQL it runs through the async session (`run_sync`);
- `fetch_one(statement, params)`: one Core SELECT's first row, for lookups by a unique key.
  On a SQLite file it runs inline on the event loop, cheaper than any thread hop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Executable, Row, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
READ_THREADS = 2

T = TypeVar("T")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            ensure_sqlite_folder(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readers = async_sessionmaker(
            self.engine.execution_options(tw_read_only=True), expire_on_commit=False
        )
        # a SQLite file: the same database through the standard-library driver, for run()/read()
        self._sync_engine: Engine | None = None
        if self.is_sqlite and make_url(url).database not in (None, "", ":memory:"):
            self._sync_engine = create_engine(
                make_url(url).set(drivername="sqlite+pysqlite"),
                echo=echo,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            _configure_sqlite(self._sync_engine)
            self._sync_sessions = sessionmaker(self._sync_engine, expire_on_commit=False)
            self._sync_readers = sessionmaker(
                self._sync_engine.execution_options(tw_read_only=True), expire_on_commit=False
            )
            self._single_statements = self._sync_engine.execution_options(
                tw_read_only=True, tw_single_statement=True
            )
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-writer")
            self._reader = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="db-reader")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block exits normally, rolls back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (no write lock taken on SQLite). Objects loaded through it
        stay readable after the block: closing expunges them without expiring them."""
        async with self._readers() as session:
            yield session

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one transaction: committed when it returns, rolled back when it
        raises (the exception propagates). Objects it returns stay readable afterwards."""
        if self._sync_engine is None:
            async with self._sessions() as session, session.begin():
                return await session.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, _in_transaction, self._sync_sessions, work
        )

    async def read(self, work: Callable[[Session], T]) -> T:
        """`work(session)` for reads only (no write lock on SQLite), like `reader()`."""
        if self._sync_engine is None:
            async with self._readers() as session:
                return await session.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(
            self._reader, _in_session, self._sync_readers, work
        )

    async def fetch_one(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """The first row of one SELECT (Core, no ORM session), or None: for the lookups by a
        unique key that every request and socket connect makes (the session check).

        On a SQLite file it runs right here, on the event loop's thread, as a single statement
        in autocommit (no BEGIN or ROLLBACK around it; in WAL mode a reader never waits for
        the writer): about 50 us, where the hop to a reader thread and back alone costs
        about 200 us of CPU. Anything longer than one indexed row goes through `read`."""
        if self._sync_engine is None:
            async with self.engine.connect() as conn:
                return (await conn.execute(statement, params)).first()
        return _first_row(self._single_statements, statement, params)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # readiness answers, it never raises
            log.warning("database ping failed", extra={"error": repr(exc)})
            return False

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (Alembic `upgrade head`)."""
        await asyncio.to_thread(upgrade, self.url)

    async def close(self) -> None:
        if self._sync_engine is not None:
            for pool in (self._writer, self._reader):
                await asyncio.to_thread(pool.shutdown)
            self._sync_engine.dispose()
        await self.engine.dispose()


def _in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with sessions() as session, session.begin():
        return work(session)


def _first_row(engine: Engine, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
    with engine.connect() as conn:
        return conn.execute(statement, params).first()


def _in_session(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with sessions() as session:
        return work(session)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (the embedded default's data folder)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("tw_single_statement", False):
            return  # one SELECT in autocommit: it reads one snapshot on its own (`fetch_one`)
        conn.exec_driver_sql("BEGIN" if options.get("tw_read_only", False) else "BEGIN IMMEDIATE")
