"""pytest fixtures for real Redis and PostgreSQL servers, started once per test session.

Load with `pytest_plugins = ["tests.harness.fixtures"]` in the top-level conftest (or
`from tests.harness.fixtures import *`). Tests that use these fixtures get the `redis` or
`postgres` marker automatically, so `-m "not postgres"` deselects them.

When a server program is not installed, the fixtures skip the test with the install hint on a
developer's machine, and fail it under CI (`CI` set), where a missing server means the setup
is broken and a green run would hide it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import NoReturn, Protocol, TypeVar

import pytest
import redis

from tests.harness.binaries import ServiceUnavailable
from tests.harness.postgres import PostgresServer
from tests.harness.redis import RedisServer

__all__ = [
    "postgres_server",
    "postgres_url",
    "pytest_collection_modifyitems",
    "redis_server",
    "redis_url",
]


class _Server(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=_Server)

_MARKER_FOR_FIXTURE = {
    "postgres_server": "postgres",
    "postgres_url": "postgres",
    "redis_server": "redis",
    "redis_url": "redis",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def start_or_skip(factory: Callable[[], S]) -> S:
    """Build and start a server; a missing program skips (developer) or fails (CI) the test."""
    try:
        server = factory()
    except ServiceUnavailable as exc:
        _missing(exc)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def _missing(exc: ServiceUnavailable) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI is set and a server the tests need is missing: {exc}", pytrace=False)
    pytest.skip(str(exc))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixture_names = getattr(item, "fixturenames", ())
        for marker in {_MARKER_FOR_FIXTURE[f] for f in fixture_names if f in _MARKER_FOR_FIXTURE}:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session. A test that stops or restarts it should use its own
    `RedisServer` instead; `redis_url` starts this one again if a test left it stopped."""
    server = start_or_skip(RedisServer)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's Redis, emptied (FLUSHALL) before the test."""
    if not redis_server.running:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session; `postgres_url` gives each test its own database."""
    server = start_or_skip(PostgresServer)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database (from template0), dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
