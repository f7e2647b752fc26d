"""The bar store contract, once per backend (memory, Redis), then the recorder that feeds it."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal

import pytest
import redis.asyncio
from tests.harness.waiting import wait_until

from tradewire.market.bars import (
    MAX_BARS,
    BarRecorder,
    BarStore,
    MemoryBarStore,
    RedisBarStore,
    bar_start,
    bar_store_from_url,
)
from tradewire.market.symbols import make_quote
from tradewire.schemas import Bar, Quote

T0 = 1_764_698_400  # a minute's start, UTC epoch seconds (2025-12-02 18:00:00)
WAIT = 5.0

StoreFactory = Callable[..., BarStore]


def tick(symbol: str, at: float, last: str, seq: int = 2) -> Quote:
    """A quote of `last` at `at` seconds after T0."""
    price = Decimal(last)
    return make_quote(
        symbol,
        bid=price - Decimal("0.01"),
        ask=price + Decimal("0.01"),
        last=price,
        open=Decimal("100.00"),
        seq=seq,
        ts=round((T0 + at) * 1000),
    )


def bar(minute: int, o: str, h: str, low: str, c: str, volume: int) -> Bar:
    """The bar of the `minute`-th minute after T0."""
    return Bar(
        time=T0 + 60 * minute,
        open=Decimal(o),
        high=Decimal(h),
        low=Decimal(low),
        close=Decimal(c),
        volume=volume,
    )


@pytest.fixture
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """`make_store(max_bars=...)` builds a store of the test's backend; all closed after."""
    made: list[BarStore] = []
    backend = request.param

    def factory(**options: int) -> BarStore:
        store: BarStore
        if backend == "redis":
            url: str = request.getfixturevalue("redis_url")
            prefix = f"test:bars:{uuid.uuid4().hex}"
            store = RedisBarStore.from_url(url, prefix=prefix, **options)
        else:
            store = MemoryBarStore(**options)
        made.append(store)
        return store

    yield factory
    for store in made:
        await store.close()


backends = pytest.mark.parametrize(
    "make_store", ["memory", pytest.param("redis", marks=pytest.mark.redis)], indirect=True
)


@pytest.fixture
def store(make_store: StoreFactory) -> BarStore:
    return make_store()


# ---------------------------------------------------------------- the contract


@backends
async def test_a_symbol_never_recorded_has_no_bars(store: BarStore) -> None:
    await store.record([tick("MSFT", 1, "415.20")])
    assert await store.recent("AAPL", 120) == []
    await store.record([])  # nothing to write is fine
    with pytest.raises(ValueError, match="limit"):
        await store.recent("MSFT", 0)


@backends
async def test_ticks_of_one_minute_make_one_exact_decimal_bar(store: BarStore) -> None:
    await store.record(
        [
            tick("AAPL", 0, "189.10"),
            tick("AAPL", 10, "189.40"),
            tick("AAPL", 20, "189.02"),
            tick("AAPL", 59.999, "189.33"),
        ]
    )
    [only] = await store.recent("AAPL", 120)
    assert only == bar(0, "189.10", "189.40", "189.02", "189.33", 4)
    assert only.wire() == {
        "time": T0,
        "open": "189.10",
        "high": "189.40",
        "low": "189.02",
        "close": "189.33",
        "volume": 4,
    }


@backends
async def test_a_tick_belongs_to_the_minute_of_its_timestamp(store: BarStore) -> None:
    await store.record(
        [
            tick("AAPL", -0.001, "10.00"),  # the last millisecond of the minute before
            tick("AAPL", 0, "11.00"),  # the first of T0's minute
            tick("AAPL", 59.999, "12.00"),
            tick("AAPL", 60, "13.00"),  # the next minute
            tick("AAPL", 185, "14.00"),  # minute 3: minute 2 had no tick, so no bar
        ]
    )
    assert await store.recent("AAPL", 120) == [
        bar(-1, "10.00", "10.00", "10.00", "10.00", 1),
        bar(0, "11.00", "12.00", "11.00", "12.00", 2),
        bar(1, "13.00", "13.00", "13.00", "13.00", 1),
        bar(3, "14.00", "14.00", "14.00", "14.00", 1),
    ]
    assert bar_start(T0 * 1000 - 1) == T0 - 60 and bar_start(T0 * 1000 + 59_999) == T0


@backends
async def test_ticks_recorded_out_of_order_make_the_same_bars(make_store: StoreFactory) -> None:
    ticks = [
        tick(symbol, second + minute * 60, f"{100 + (second * 7 + minute) % 13}.{second:02d}")
        for symbol in ("AAPL", "KO")
        for minute in range(3)
        for second in range(0, 60, 5)
    ]
    in_order, shuffled = make_store(), make_store()
    await in_order.record(ticks)
    mixed = ticks[:]
    random.Random(3).shuffle(mixed)
    for start in range(0, len(mixed), 7):  # several batches, like the recorder writes
        await shuffled.record(mixed[start : start + 7])
    for symbol in ("AAPL", "KO"):
        expected = await in_order.recent(symbol, 120)
        assert [b.time for b in expected] == [T0, T0 + 60, T0 + 120]
        assert sum(b.volume for b in expected) == 36
        assert await shuffled.recent(symbol, 120) == expected


@backends
async def test_on_equal_timestamps_the_later_recorded_tick_closes(store: BarStore) -> None:
    await store.record([tick("AAPL", 5, "10.00"), tick("AAPL", 5, "10.50")])
    assert await store.recent("AAPL", 1) == [bar(0, "10.00", "10.50", "10.00", "10.50", 2)]


@backends
async def test_a_late_tick_updates_its_own_minute_not_the_newest(store: BarStore) -> None:
    await store.record(
        [tick("AAPL", 10, "50.00"), tick("AAPL", 50, "51.00"), tick("AAPL", 70, "52.00")]
    )
    await store.record([tick("AAPL", 5, "49.00")])  # before minute 0's first tick
    await store.record([tick("AAPL", 130, "53.00"), tick("AAPL", 100, "40.00")])
    assert await store.recent("AAPL", 120) == [
        bar(0, "49.00", "51.00", "49.00", "51.00", 3),
        bar(1, "52.00", "52.00", "40.00", "40.00", 2),
        bar(2, "53.00", "53.00", "53.00", "53.00", 1),
    ]
    await store.record([tick("AAPL", -300, "48.00")])  # a missing minute, made in its place
    bars = await store.recent("AAPL", 120)
    assert [b.time for b in bars] == [T0 - 300, T0, T0 + 60, T0 + 120]


@backends
async def test_recent_gives_the_newest_bars_oldest_first(store: BarStore) -> None:
    await store.record([tick("AAPL", 60 * m, f"{100 + m}.00") for m in range(10)])
    newest = await store.recent("AAPL", 3)
    assert [b.time for b in newest] == [T0 + 420, T0 + 480, T0 + 540]
    assert [b.close for b in newest] == [Decimal("107.00"), Decimal("108.00"), Decimal("109.00")]
    assert len(await store.recent("AAPL", 1000)) == 10


@backends
async def test_the_window_keeps_the_newest_max_bars(store: BarStore) -> None:
    await store.record([tick("AAPL", 60 * m, "10.00") for m in range(MAX_BARS + 5)])
    kept = await store.recent("AAPL", MAX_BARS + 100)
    assert len(kept) == MAX_BARS
    assert kept[0].time == T0 + 60 * 5 and kept[-1].time == T0 + 60 * (MAX_BARS + 4)

    await store.record([tick("AAPL", 60 * 2, "99.00")])  # older than the full window: dropped
    await store.record([tick("AAPL", 60 * 5 + 30, "11.00")])  # the oldest kept minute: counted
    after = await store.recent("AAPL", MAX_BARS + 100)
    assert [b.time for b in after] == [b.time for b in kept]
    assert after[0] == bar(5, "10.00", "11.00", "10.00", "11.00", 2)
    assert max(b.high for b in after) == Decimal("11.00")


@backends
async def test_a_late_minute_inside_a_full_window_pushes_out_the_oldest(
    make_store: StoreFactory,
) -> None:
    store = make_store(max_bars=3)
    await store.record([tick("AAPL", 0, "1.00"), tick("AAPL", 120, "3.00")])
    await store.record([tick("AAPL", 180, "4.00"), tick("AAPL", 60, "2.00")])
    assert [b.close for b in await store.recent("AAPL", 10)] == [
        Decimal("2.00"),
        Decimal("3.00"),
        Decimal("4.00"),
    ]


@backends
async def test_symbols_keep_bars_of_their_own(store: BarStore) -> None:
    await store.record([tick("AAPL", 1, "189.10"), tick("BRK.B", 2, "412.30")])
    assert await store.recent("AAPL", 5) == [bar(0, "189.10", "189.10", "189.10", "189.10", 1)]
    assert await store.recent("BRK.B", 5) == [bar(0, "412.30", "412.30", "412.30", "412.30", 1)]


@backends
async def test_a_window_of_no_bars_is_refused(make_store: StoreFactory) -> None:
    with pytest.raises(ValueError, match="max_bars"):
        make_store(max_bars=0)


# ---------------------------------------------------------------- Redis: shared, and robust


async def test_redis_bars_are_seen_by_every_instance(redis_url: str) -> None:
    prefix = f"test:bars:{uuid.uuid4().hex}"
    writer = RedisBarStore.from_url(redis_url, prefix=prefix)
    reader = RedisBarStore.from_url(redis_url, prefix=prefix)
    try:
        await writer.record([tick("AAPL", 1, "189.10"), tick("AAPL", 2, "189.20")])
        assert await reader.recent("AAPL", 5) == [bar(0, "189.10", "189.20", "189.10", "189.20", 2)]
    finally:
        await writer.close()
        await reader.close()


async def test_an_undecodable_stored_bar_is_skipped_and_logged(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"test:bars:{uuid.uuid4().hex}"
    store = RedisBarStore.from_url(redis_url, prefix=prefix)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await store.record([tick("AAPL", 60, "10.00")])
        await client.zadd(f"{prefix}:AAPL", {b'{"t": 1, "o": "x"}': T0})
        with caplog.at_level(logging.WARNING, logger="tradewire.market.bars"):
            assert await store.recent("AAPL", 5) == [bar(1, "10.00", "10.00", "10.00", "10.00", 1)]
        assert caplog.messages == ["undecodable bar in redis"]
    finally:
        await client.aclose()
        await store.close()


def test_the_store_is_chosen_from_the_url() -> None:
    assert isinstance(bar_store_from_url(""), MemoryBarStore)
    assert isinstance(bar_store_from_url("memory://"), MemoryBarStore)
    assert isinstance(bar_store_from_url("redis://127.0.0.1:1/0"), RedisBarStore)
    with pytest.raises(ValueError, match="scheme 'http'"):
        bar_store_from_url("http://example.com")
    with pytest.raises(ValueError, match="no scheme"):
        bar_store_from_url("localhost:6379")


# ---------------------------------------------------------------- the recorder


class FlakyStore(MemoryBarStore):
    """Fails the writes while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def record(self, quotes: Sequence[Quote]) -> None:
        if self.down:
            raise ConnectionError("redis is down")
        await super().record(quotes)


async def wait_idle(recorder: BarRecorder) -> None:
    await wait_until(lambda: recorder.idle, timeout=WAIT, what="the recorder to write its queue")


async def test_the_recorder_writes_every_quote_handed_to_it() -> None:
    recorder = BarRecorder(MemoryBarStore(), batch=4)
    recorder.start()
    try:
        for second in range(10):
            recorder.on_quote(tick("AAPL", second, f"10.{second:02d}"))
        await wait_idle(recorder)
        assert await recorder.store.recent("AAPL", 5) == [
            bar(0, "10.00", "10.09", "10.00", "10.09", 10)
        ]
    finally:
        await recorder.stop()


async def test_a_store_outage_is_logged_once_and_writes_resume(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    recorder = BarRecorder(store, batch=1)
    recorder.start()
    try:
        with caplog.at_level(logging.INFO, logger="tradewire.market.bars"):
            store.down = True
            for second in range(3):
                recorder.on_quote(tick("AAPL", second, "10.00"))
                await wait_idle(recorder)
            store.down = False
            recorder.on_quote(tick("AAPL", 30, "11.00"))
            await wait_idle(recorder)
        assert caplog.messages == [
            "bar store write failed; bars miss these ticks",
            "bar store writes recovered",
        ]
        assert await store.recent("AAPL", 5) == [bar(0, "11.00", "11.00", "11.00", "11.00", 1)]
    finally:
        await recorder.stop()


async def test_a_full_queue_drops_new_quotes_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = BarRecorder(MemoryBarStore(), max_pending=3)  # not started: nothing drains
    with caplog.at_level(logging.ERROR, logger="tradewire.market.bars"):
        for second in range(6):
            recorder.on_quote(tick("AAPL", second, "10.00"))
    assert caplog.messages == ["bar recorder is behind; dropping quotes"]
    recorder.start()
    try:
        await wait_idle(recorder)
        [only] = await recorder.store.recent("AAPL", 5)
        assert only.volume == 3
    finally:
        await recorder.stop()
