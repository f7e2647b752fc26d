"""Fixtures for the market tests: a fake clock for sources, and a quote cache parametrized over
both backends. The real redis-server comes from the shared harness (`redis_url`,
tests/harness/fixtures.py): one per session, emptied before each test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from market_clock import FakeTime

from tradewire.market.cache import MemoryQuoteCache, QuoteCache, RedisQuoteCache


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def redis_cache(redis_url: str) -> AsyncIterator[RedisQuoteCache]:
    """A Redis cache on a key of its own."""
    cache = RedisQuoteCache.from_url(redis_url, key=f"test:quotes:{uuid.uuid4().hex}")
    yield cache
    await cache.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest) -> QuoteCache:
    """The quote cache contract suite runs once per backend."""
    if request.param == "redis":
        redis_cache: RedisQuoteCache = request.getfixturevalue("redis_cache")
        return redis_cache
    return MemoryQuoteCache()
