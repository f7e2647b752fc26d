"""Fixtures of the realtime suite: clients that are always closed, a server whose market is
quiet (quotes arrive only when the test publishes them), and quote publishing."""

from __future__ import annotations

import gc
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.conftest import make_settings
from tests.realtime.clients import Client
from tests.support import LiveServer
from tradewire.accounts import passwords
from tradewire.schemas import Quote
from tradewire.settings import Settings
from tradewire.storage.database import upgrade

Connect = Callable[..., Awaitable[Client]]


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its minimum cost: logging in is not what these tests are about, and at the
    production cost (~0.3 s a login on this machine) it would be most of their run time."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file at the newest schema, made once and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "tradewire.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def fresh_settings(tmp_path: Path, template: Path, **overrides: object) -> Settings:
    """`make_settings`, with the test's own copy of the migrated database."""
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copyfile(template, tmp_path / "data" / "tradewire.db")
    return make_settings(tmp_path, **overrides)


@pytest.fixture
def settings(tmp_path: Path, migrated_database: Path) -> Settings:
    """The `server` fixture's settings (tests/conftest.py), on a copy of the migrated schema."""
    return fresh_settings(tmp_path, migrated_database)


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """`await connect(server, session_id, **options)`: a connected `Client`, closed after."""
    made: list[Client] = []

    async def connect_client(server: LiveServer, session_id: str | None, **options: Any) -> Client:
        client = Client()
        made.append(client)
        return await client.connect(server.url, session_id, **options)

    yield connect_client
    for client in made:
        await client.close()


@pytest.fixture
async def quiet_server(tmp_path: Path, migrated_database: Path) -> AsyncIterator[LiveServer]:
    """A live server whose simulated market is stopped after start-up: the cache holds the
    opening quotes and nothing ticks, so every quote push comes from `publish`. 60 symbols, so
    a socket can ask for more than the 50 it may watch."""
    async with LiveServer(fresh_settings(tmp_path, migrated_database, market_symbols="60")) as live:
        await live.services.feed.stop()
        yield live


async def publish(server: LiveServer, *quotes: Quote) -> None:
    """What the market feed does with a tick: cache it, then tell the listeners."""
    for q in quotes:
        await server.services.quotes.put(q)
        server.services.feed.emit("quote", q)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Unclosed-connection warnings come from the garbage collector whenever it runs; running it
    after each test pins them on the test that leaked."""
    yield
    gc.collect()
