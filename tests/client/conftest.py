"""Fixtures of the Python client's suite: cheap password hashing and a live server per test
(the realtime suite's), and clients that are always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.realtime.conftest import (  # noqa: F401 (fixtures)
    _cheap_password_hashing,
    _collect_garbage_after_each_test,
    migrated_database,
    quiet_server,
    settings,
)
from tests.support import LiveServer
from tradewire.client import TradewireClient

MakeClient = Callable[..., Awaitable[TradewireClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """`await make_client(server, **options)`: a logged-in (demo) client, closed after."""
    made: list[TradewireClient] = []

    async def make(server: LiveServer, *, login: bool = True, **options: object) -> TradewireClient:
        client = TradewireClient(server.url, **options)  # type: ignore[arg-type]
        made.append(client)
        if login:
            await client.login("demo", "demo-password")
        return client

    yield make
    for client in made:
        await client.close()
