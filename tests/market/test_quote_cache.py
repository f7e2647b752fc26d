"""The quote cache contract, once per backend (memory, Redis), plus Redis-only behaviour."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from decimal import Decimal

import orjson
import pytest
import redis.asyncio
from tests.support import sample_quote as quote

from tradewire.market.cache import (
    MemoryQuoteCache,
    QuoteCache,
    RedisQuoteCache,
    quote_cache_from_url,
)
from tradewire.market.symbols import make_quote


async def test_empty_cache_has_nothing(cache: QuoteCache) -> None:
    assert await cache.latest("AAPL") is None
    assert await cache.latest_many(["AAPL", "MSFT"]) == {}
    assert await cache.latest_many([]) == {}
    assert await cache.all() == []


async def test_latest_value_wins_per_symbol(cache: QuoteCache) -> None:
    await cache.put(quote("MSFT", 1, "415.20"))
    await cache.put(quote("AAPL", 1, "189.50"))
    await cache.put(quote("AAPL", 2, "189.55"))
    assert await cache.latest("AAPL") == quote("AAPL", 2, "189.55")
    assert await cache.latest_many(["AAPL", "TSLA", "MSFT", "AAPL"]) == {
        "AAPL": quote("AAPL", 2, "189.55"),
        "MSFT": quote("MSFT", 1, "415.20"),
    }
    assert await cache.all() == [quote("AAPL", 2, "189.55"), quote("MSFT", 1, "415.20")]


async def test_values_survive_exactly(cache: QuoteCache) -> None:
    original = make_quote(
        "BRK.B",
        bid=Decimal("412.2999"),
        ask=Decimal("412.31"),
        last=Decimal("412.30"),
        open=Decimal("410.00"),
        seq=7,
        ts=1_700_000_123_456,
    )
    await cache.put(original)
    stored = await cache.latest("BRK.B")
    assert stored == original
    assert stored is not None and stored.wire() == original.wire()
    assert stored.wire()["last"] == "412.30"


async def test_never_goes_back_to_a_lower_seq(cache: QuoteCache) -> None:
    await cache.put(quote("AAPL", 5, "101.00"))
    await cache.put(quote("AAPL", 4, "99.00"))  # late write
    assert await cache.latest("AAPL") == quote("AAPL", 5, "101.00")
    await cache.put(quote("AAPL", 5, "101.50"))  # same seq replaces
    assert await cache.latest("AAPL") == quote("AAPL", 5, "101.50")


async def test_seq_one_starts_a_new_session(cache: QuoteCache) -> None:
    await cache.put(quote("AAPL", 900, "150.00"))
    await cache.put(quote("AAPL", 1, "100.00"))  # the source restarted
    await cache.put(quote("AAPL", 2, "100.10"))
    assert await cache.latest("AAPL") == quote("AAPL", 2, "100.10")


async def test_out_of_order_concurrent_writes_keep_the_highest_seq(cache: QuoteCache) -> None:
    writes = [
        quote(symbol, seq, f"{100 + seq}.00")
        for symbol in ("AAPL", "MSFT", "KO")
        for seq in range(2, 60)
    ]
    random.Random(3).shuffle(writes)
    await asyncio.gather(*(cache.put(q) for q in writes))
    assert [(q.symbol, q.seq) for q in await cache.all()] == [
        ("AAPL", 59),
        ("KO", 59),
        ("MSFT", 59),
    ]


async def test_peek_sees_what_this_instance_put(cache: QuoteCache) -> None:
    assert isinstance(cache, MemoryQuoteCache | RedisQuoteCache)
    assert cache.peek("AAPL") is None
    await cache.put(quote("AAPL", 3))
    assert cache.peek("AAPL") == quote("AAPL", 3)
    await cache.put(quote("AAPL", 2))
    assert cache.peek("AAPL") == quote("AAPL", 3)


# ---------------------------------------------------------------- Redis only


@pytest.mark.redis
async def test_instances_share_quotes(redis_url: str) -> None:
    key = f"test:quotes:{uuid.uuid4().hex}"
    node_a = RedisQuoteCache.from_url(redis_url, key=key)
    node_b = RedisQuoteCache.from_url(redis_url, key=key)
    try:
        await node_a.put(quote("AAPL", 10, "190.00"))
        assert await node_b.latest("AAPL") == quote("AAPL", 10, "190.00")
        assert node_b.peek("AAPL") == quote("AAPL", 10, "190.00")  # mirrored on read

        await node_a.put(quote("AAPL", 11, "190.10"))
        await node_b.put(quote("AAPL", 9, "189.00"))  # B is behind: refused
        assert await node_a.latest("AAPL") == quote("AAPL", 11, "190.10")
        assert node_b.peek("AAPL") == quote("AAPL", 11, "190.10")  # B learnt the newer one

        await node_b.put(quote("MSFT", 1))
        assert await node_a.latest_many(["MSFT"]) == {"MSFT": quote("MSFT", 1)}
        assert node_a.peek("MSFT") == quote("MSFT", 1)
    finally:
        await node_a._redis.delete(key)
        await node_a.close()
        await node_b.close()


@pytest.mark.redis
async def test_stored_format_is_the_wire_json(redis_url: str, redis_cache: RedisQuoteCache) -> None:
    await redis_cache.put(quote("KO", 4, "62.40"))
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = await client.hget(redis_cache._key, "KO")
    finally:
        await client.aclose()
    assert raw is not None and orjson.loads(raw) == quote("KO", 4, "62.40").wire()
    assert '"changePct":"-37.60"' in raw
    assert redis_cache._key.startswith("test:quotes:")


@pytest.mark.redis
async def test_undecodable_entries_read_as_missing_and_are_overwritten(
    redis_url: str, redis_cache: RedisQuoteCache, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.hset(redis_cache._key, mapping={"AAPL": "not json", "KO": '{"seq": 3}'})
    finally:
        await client.aclose()
    with caplog.at_level(logging.WARNING, logger="tradewire.market.cache"):
        assert await redis_cache.latest("AAPL") is None
        assert await redis_cache.all() == []
    assert any(
        r.message == "undecodable quote in redis cache" and r.symbol == "AAPL"
        for r in caplog.records
    )
    await redis_cache.put(quote("AAPL", 2))
    await redis_cache.put(quote("KO", 2))  # the broken KO entry claims seq 3, but is not a quote
    assert await redis_cache.all() == [quote("AAPL", 2)]


@pytest.mark.redis
async def test_close_leaves_a_borrowed_client_open(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    key = f"test:quotes:{uuid.uuid4().hex}"
    cache = RedisQuoteCache(client, key=key)
    await cache.put(quote("AAPL", 1))
    await cache.close()
    assert cache.peek("AAPL") is None
    assert await client.hlen(key) == 1  # still usable
    await client.delete(key)
    await client.aclose()


# ---------------------------------------------------------------- choosing a backend


async def test_memory_close_forgets() -> None:
    cache = MemoryQuoteCache()
    await cache.put(quote("AAPL", 1))
    await cache.close()
    assert await cache.all() == []


@pytest.mark.parametrize("url", ["", "memory://"])
def test_url_picks_memory(url: str) -> None:
    assert isinstance(quote_cache_from_url(url), MemoryQuoteCache)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "rediss://h:6380", "unix:///tmp/r.sock"])
async def test_url_picks_redis(url: str) -> None:
    cache = quote_cache_from_url(url)
    assert isinstance(cache, RedisQuoteCache)
    await cache.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://user:secret@host", "scheme 'http'"), ("localhost:6379", "no scheme")],
)
def test_url_rejects_other_schemes_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        quote_cache_from_url(url)
    assert "secret" not in str(caught.value)
