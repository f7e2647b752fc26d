"""Shared fixtures: settings per database backend, and a real tradewire server started in this
process on a free loopback port (so its code counts for coverage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import LiveServer
from tradewire.settings import Settings

pytest_plugins = ["tests.harness.fixtures"]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data folder, a seeded fast market, generous auth limits."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "market_seed": 7,
        "market_tick_rate": 5.0,
        "market_symbols": "50",
        "auth_rate_limit": "1000/minute",
        "seed_demo": True,
        "dashboard_dir": tmp_path / "no-dashboard",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs twice: on a SQLite file and on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    """A real tradewire server (REST + Socket.IO) in this process, SQLite, in-memory manager."""
    async with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def db_server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    """Like `server`, once per database backend."""
    async with LiveServer(make_settings(tmp_path, database_url=database_url)) as live:
        yield live


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop registered on the main
    thread while its browsers live (session-scoped), which no asyncio test can run beside."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
