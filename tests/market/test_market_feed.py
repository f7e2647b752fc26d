from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from market_clock import FakeTime

from tradewire.cluster.bus import MemoryBus
from tradewire.market.cache import MemoryQuoteCache, QuoteCache
from tradewire.market.feed import PUBLISHED, QUOTE, MarketFeed, build_feed
from tradewire.market.replay import ReplaySource
from tradewire.market.simulated import SimulatedSource
from tradewire.market.symbols import make_quote, select_symbols
from tradewire.schemas import Quote
from tradewire.settings import Settings

FEED_LOGGER = "tradewire.market.feed"
WAIT = 5.0  # seconds any single wait in these tests may take


def quote(symbol: str, seq: int) -> Quote:
    price = Decimal("10.00") + seq
    return make_quote(
        symbol, bid=price - 1, ask=price + 1, last=price, open=Decimal("11.00"), seq=seq, ts=seq
    )


class Received:
    """A "quote" listener that records quotes and lets a test wait for a number of them."""

    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self._arrived = asyncio.Event()

    def __call__(self, quote: Quote) -> None:
        self.quotes.append(quote)
        self._arrived.set()

    async def wait_for(self, count: int) -> None:
        try:
            async with asyncio.timeout(WAIT):
                while len(self.quotes) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            pytest.fail(f"waited {WAIT}s for {count} quotes, got {len(self.quotes)}")


class ScriptedSource:
    """Yields `script` (a Quote, or an exception to raise), then waits forever, or ends when
    `end` is set. `finished` is set once the iterator is closed."""

    def __init__(self, script: list[Quote | Exception], end: bool = False) -> None:
        self.script = script
        self.end = end
        self.finished = asyncio.Event()

    def initial_quotes(self) -> list[Quote]:
        return [quote("AAPL", 1), quote("MSFT", 1)]

    async def ticks(self) -> AsyncIterator[Quote]:
        try:
            for item in self.script:
                if isinstance(item, Exception):
                    raise item
                yield item
            if not self.end:
                await asyncio.Event().wait()
        finally:
            self.finished.set()


async def wait_until_stopped(feed: MarketFeed) -> None:
    """Wait for a feed whose source ended or failed to notice it has stopped."""
    task = feed._task
    assert task is not None
    try:
        await asyncio.wait_for(asyncio.shield(task), WAIT)
    except TimeoutError:
        pytest.fail(f"the feed was still running after {WAIT}s")


def simulated_feed(cache: QuoteCache, clock: FakeTime, symbols: str = "5") -> MarketFeed:
    infos = select_symbols(symbols)
    source = SimulatedSource(infos, tick_rate=5, seed=11, clock=clock, sleep=clock.sleep)
    return MarketFeed(source, cache, infos)


async def test_start_fills_the_cache_then_quotes_flow(
    cache: QuoteCache, fake_time: FakeTime
) -> None:
    feed = simulated_feed(cache, fake_time)
    received = Received()
    feed.on("quote", received)
    await feed.start()
    try:
        assert feed.running
        initial = await cache.all()
        assert sorted(q.symbol for q in initial) == sorted(s.symbol for s in feed.symbols)
        assert {q.seq for q in initial} == {1}
        await received.wait_for(50)
    finally:
        await feed.stop()
    # Every emitted quote was cached first; stop() may land between a cache write and its
    # emit, so the cache can be one quote ahead.
    for symbol, newest in {q.symbol: q for q in received.quotes}.items():
        cached = await cache.latest(symbol)
        assert cached is not None and cached.seq in (newest.seq, newest.seq + 1)


async def test_a_quote_is_cached_before_listeners_hear_of_it(fake_time: FakeTime) -> None:
    cache = MemoryQuoteCache()
    feed = simulated_feed(cache, fake_time)
    received = Received()
    checked: list[bool] = []
    feed.on("quote", lambda q: checked.append(cache.peek(q.symbol) == q))
    feed.on("quote", received)
    await feed.start()
    await received.wait_for(20)
    await feed.stop()
    assert checked and all(checked)


async def test_stop_start_continues_the_sequence(fake_time: FakeTime) -> None:
    cache = MemoryQuoteCache()
    feed = simulated_feed(cache, fake_time, symbols="AAPL")
    received = Received()
    feed.on("quote", received)

    await feed.stop()  # stopping a feed that never started is fine
    await feed.start()
    await feed.start()  # already running: no second loop
    await received.wait_for(10)
    await feed.stop()
    assert not feed.running
    stopped_at = len(received.quotes)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(received.quotes) == stopped_at  # nothing after stop
    await feed.stop()  # idempotent

    await feed.start()
    await received.wait_for(stopped_at + 10)
    await feed.stop()
    seqs = [q.seq for q in received.quotes]
    assert seqs == list(range(2, len(seqs) + 2))  # no gap, no repeat, no second loop
    latest = await cache.latest("AAPL")
    assert latest is not None and latest.seq == seqs[-1]


async def test_start_resumes_the_market_from_the_cache(fake_time: FakeTime) -> None:
    """An instance taking over the feed continues prices and seq where the cache stands."""
    cache = MemoryQuoteCache()
    first = simulated_feed(cache, fake_time, symbols="AAPL,KO")
    received = Received()
    first.on("quote", received)
    await first.start()
    await received.wait_for(10)
    await first.stop()
    before = {q.symbol: q for q in await cache.all()}

    second = simulated_feed(cache, fake_time, symbols="AAPL,KO")  # a fresh source
    await second.start()
    await second.stop()
    after = {q.symbol: q for q in await cache.all()}
    for symbol, old in before.items():
        new = after[symbol]
        assert new.seq >= old.seq
        assert new.open == old.open
        assert abs(new.last - old.last) < Decimal("1.00")


async def test_stop_ends_the_loop_even_when_a_cancellation_is_swallowed() -> None:
    """On Python 3.11, asyncio.wait_for (used by redis-py for socket writes) can swallow a
    cancellation; stop() must still end the loop."""
    entered = asyncio.Event()

    class SwallowingCache(MemoryQuoteCache):
        async def put(self, quote: Quote) -> None:
            if quote.seq > 1:
                entered.set()
                with contextlib.suppress(asyncio.CancelledError):  # the swallowing
                    await asyncio.sleep(WAIT)
            await super().put(quote)

    source = ScriptedSource([quote("AAPL", 2), quote("AAPL", 3)])
    feed = MarketFeed(source, SwallowingCache(), select_symbols("AAPL"))
    await feed.start()
    await asyncio.wait_for(entered.wait(), WAIT)
    await asyncio.wait_for(feed.stop(), WAIT)
    assert not feed.running
    assert source.finished.is_set()


async def test_a_failing_sync_listener_is_logged_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource([quote("AAPL", 2), quote("MSFT", 2), quote("AAPL", 3)])
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL,MSFT"))
    received = Received()

    def broken(q: Quote) -> None:
        if q.symbol == "MSFT":
            raise RuntimeError("listener bug")

    feed.on("quote", broken)
    feed.on("quote", received)
    with caplog.at_level(logging.ERROR, logger=FEED_LOGGER):
        await feed.start()
        await received.wait_for(3)
        assert feed.running
        await feed.stop()
    (record,) = [r for r in caplog.records if r.message == "market feed listener failed"]
    assert (record.event, record.symbol, record.seq) == ("quote", "MSFT", 2)
    assert record.exc_info is not None and str(record.exc_info[1]) == "listener bug"


async def test_a_failing_async_listener_is_logged_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource([quote("AAPL", 2), quote("AAPL", 3)])
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL"))
    received = Received()

    async def broken(q: Quote) -> None:
        received(q)
        raise ValueError(f"async bug at {q.seq}")

    feed.on("quote", broken)
    with caplog.at_level(logging.ERROR, logger=FEED_LOGGER):
        await feed.start()
        await received.wait_for(2)
        await feed.wait_for_complete()
        assert feed.running
        await feed.stop()
    failures = [r for r in caplog.records if r.message == "market feed listener failed"]
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == [
        "async bug at 2",
        "async bug at 3",
    ]


async def test_listener_errors_are_contained_even_without_the_error_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource([quote("AAPL", 2), quote("AAPL", 3)])
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL"))
    feed.remove_all_listeners("error")
    received = Received()

    def broken(q: Quote) -> None:
        received(q)
        raise RuntimeError("boom")

    feed.on("quote", broken)
    with caplog.at_level(logging.ERROR, logger=FEED_LOGGER):
        await feed.start()
        await received.wait_for(2)
        assert feed.running
        await feed.stop()
    assert [r.seq for r in caplog.records if r.message == "market feed listener failed"] == [2, 3]


class FlakyCache(MemoryQuoteCache):
    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    async def put(self, quote: Quote) -> None:
        if self.failing:
            raise ConnectionError("redis is down")
        await super().put(quote)


async def test_cache_outage_is_logged_once_and_quotes_still_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource(
        [quote("AAPL", 2), quote("AAPL", 3), quote("AAPL", 4), quote("AAPL", 5)]
    )
    cache = FlakyCache()
    feed = MarketFeed(source, cache, select_symbols("AAPL"))
    received = Received()

    def listener(q: Quote) -> None:
        received(q)
        cache.failing = q.seq in (2, 3)  # the writes of seq 3 and 4 fail

    feed.on("quote", listener)
    with caplog.at_level(logging.INFO, logger=FEED_LOGGER):
        await feed.start()
        await received.wait_for(4)
        await feed.stop()
    assert [q.seq for q in received.quotes] == [2, 3, 4, 5]
    messages = [r.message for r in caplog.records]
    assert messages.count("quote cache write failed; emitting without caching") == 1
    assert messages.count("quote cache writes recovered") == 1
    latest = await cache.latest("AAPL")
    assert latest is not None and latest.seq == 5


async def test_a_failing_source_stops_the_feed_with_a_log(caplog: pytest.LogCaptureFixture) -> None:
    source = ScriptedSource([quote("AAPL", 2), OSError("replay file vanished")])
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL"))
    with caplog.at_level(logging.ERROR, logger=FEED_LOGGER):
        await feed.start()
        await wait_until_stopped(feed)
    assert not feed.running
    (record,) = caplog.records
    assert record.message == "market source failed; the feed has stopped"
    assert record.source == "ScriptedSource"
    assert source.finished.is_set()
    await feed.stop()


async def test_a_finished_source_stops_the_feed(caplog: pytest.LogCaptureFixture) -> None:
    source = ScriptedSource([quote("AAPL", 2)], end=True)
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL"))
    with caplog.at_level(logging.INFO, logger=FEED_LOGGER):
        await feed.start()
        await wait_until_stopped(feed)
    assert not feed.running
    assert "market source finished; the feed has stopped" in caplog.messages
    await feed.stop()


async def test_stop_closes_a_source_interrupted_mid_publish() -> None:
    entered = asyncio.Event()

    class SlowCache(MemoryQuoteCache):
        async def put(self, quote: Quote) -> None:
            if quote.seq > 1:
                entered.set()
                await asyncio.Event().wait()
            await super().put(quote)  # pragma: no cover - seq 1 only

    source = ScriptedSource([quote("AAPL", 2), quote("AAPL", 3)])
    feed = MarketFeed(source, SlowCache(), select_symbols("AAPL"))
    await feed.start()
    await asyncio.wait_for(entered.wait(), WAIT)  # the feed is blocked in put()
    await feed.stop()
    assert source.finished.is_set()


async def test_cancelling_stop_itself_propagates() -> None:
    cleanup_started, release = asyncio.Event(), asyncio.Event()

    class StubbornSource(ScriptedSource):
        async def ticks(self) -> AsyncIterator[Quote]:
            try:
                await asyncio.Event().wait()
                yield quote("AAPL", 2)  # pragma: no cover - never reached
            finally:
                cleanup_started.set()
                await release.wait()  # slow cleanup

    feed = MarketFeed(StubbornSource([]), MemoryQuoteCache(), select_symbols("AAPL"))
    await feed.start()
    feed_task = feed._task
    assert feed_task is not None
    stopping = asyncio.create_task(feed.stop())
    await asyncio.wait_for(cleanup_started.wait(), WAIT)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await feed_task


def test_lookup_is_case_insensitive() -> None:
    feed = MarketFeed(ScriptedSource([]), MemoryQuoteCache(), select_symbols("AAPL,BRK.B"))
    assert feed.is_known("aapl") and feed.is_known("BRK.B")
    assert not feed.is_known("MSFT")
    info = feed.info("brk.b")
    assert info is not None and info.name == "Berkshire Hathaway Inc. Class B"
    assert feed.info("MSFT") is None
    assert not feed.running


# ---------------------------------------------------------------- cluster mode (bus)


async def test_with_a_bus_every_instance_emits_the_one_source(fake_time: FakeTime) -> None:
    bus, cache = MemoryBus(), MemoryQuoteCache()
    runner = simulated_feed_on_bus(cache, fake_time, bus)
    follower = simulated_feed_on_bus(cache, fake_time, bus)  # never started
    on_runner, on_follower = Received(), Received()
    runner.on("quote", on_runner)
    follower.on("quote", on_follower)
    await runner.start()
    await on_follower.wait_for(20)
    await runner.stop()
    assert on_runner.quotes[:20] == on_follower.quotes[:20]
    assert not follower.running


async def test_published_fires_once_per_quote_on_the_running_instance_only(
    fake_time: FakeTime,
) -> None:
    bus, cache = MemoryBus(), MemoryQuoteCache()
    runner = simulated_feed_on_bus(cache, fake_time, bus)
    follower = simulated_feed_on_bus(cache, fake_time, bus)  # never started
    published_here, published_there, heard_there = Received(), Received(), Received()
    runner.on(PUBLISHED, published_here)
    follower.on(PUBLISHED, published_there)
    follower.on(QUOTE, heard_there)
    await runner.start()
    await heard_there.wait_for(20)
    await runner.stop()
    assert published_here.quotes[:20] == heard_there.quotes[:20]
    assert len({(q.symbol, q.seq) for q in published_here.quotes}) == len(published_here.quotes)
    assert published_there.quotes == []


def simulated_feed_on_bus(cache: QuoteCache, clock: FakeTime, bus: MemoryBus) -> MarketFeed:
    infos = select_symbols("3")
    source = SimulatedSource(infos, tick_rate=5, seed=11, clock=clock, sleep=clock.sleep)
    return MarketFeed(source, cache, infos, bus)


class FlakyBus(MemoryBus):
    """Fails to publish quotes whose seq is in `failing`."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__()
        self.failing = failing

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        if message["seq"] in self.failing:
            raise ConnectionError("redis is down")
        await super().publish(channel, message)


async def test_bus_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    bus = FlakyBus(failing={3, 4})
    source = ScriptedSource([quote("AAPL", s) for s in range(2, 7)], end=True)
    feed = MarketFeed(source, MemoryQuoteCache(), select_symbols("AAPL"), bus)
    received = Received()
    feed.on("quote", received)
    with caplog.at_level(logging.INFO, logger=FEED_LOGGER):
        await feed.start()
        await wait_until_stopped(feed)
    assert [q.seq for q in received.quotes] == [2, 5, 6]
    messages = [r.message for r in caplog.records]
    assert messages.count("quote not published to the cluster; retrying with the next") == 1
    assert messages.count("quote publishing recovered") == 1


async def test_malformed_bus_messages_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()
    feed = MarketFeed(ScriptedSource([]), MemoryQuoteCache(), select_symbols("AAPL"), bus)
    received = Received()
    feed.on("quote", received)
    with caplog.at_level(logging.WARNING, logger=FEED_LOGGER):
        await bus.publish("quotes", {"symbol": "AAPL", "bid": "x"})
        await bus.publish("quotes", quote("AAPL", 7).wire())
    assert received.quotes == [quote("AAPL", 7)]
    assert caplog.messages == ["malformed quote on the bus; dropped"]


# ---------------------------------------------------------------- build_feed


async def test_build_simulated_feed_from_settings() -> None:
    settings = Settings(
        _env_file=None, market_symbols="aapl,ko", market_tick_rate=50, market_seed=3
    )
    feed = build_feed(settings, MemoryQuoteCache())
    assert [s.symbol for s in feed.symbols] == ["AAPL", "KO"]
    assert isinstance(feed._source, SimulatedSource)
    received = Received()
    feed.on("quote", received)
    await feed.start()
    await received.wait_for(5)  # real time: 100 ticks a second in all
    await feed.stop()

    again = build_feed(settings, MemoryQuoteCache())
    other = build_feed(settings.model_copy(update={"market_seed": 4}), MemoryQuoteCache())
    replayed, different = Received(), Received()
    again.on("quote", replayed)
    other.on("quote", different)
    await again.start()
    await other.start()
    await replayed.wait_for(5)
    await different.wait_for(5)
    await again.stop()
    await other.stop()
    assert [q.last for q in replayed.quotes[:5]] == [q.last for q in received.quotes[:5]]
    assert [q.last for q in different.quotes[:5]] != [q.last for q in received.quotes[:5]]


def test_build_rejects_bad_symbols() -> None:
    with pytest.raises(ValueError, match="unknown ticker NOPE"):
        build_feed(Settings(_env_file=None, market_symbols="AAPL,NOPE"), MemoryQuoteCache())


async def test_build_replay_feed_from_the_shipped_sample(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(_env_file=None, market_source="replay", market_replay_speed=50)
    with caplog.at_level(logging.WARNING, logger=FEED_LOGGER):
        feed = build_feed(settings, MemoryQuoteCache())
    assert caplog.records == []
    assert [s.symbol for s in feed.symbols] == ["AAPL", "MSFT", "NVDA", "TSLA", "KO"]
    assert feed.info("KO") is not None
    received = Received()
    feed.on("quote", received)
    await feed.start()
    await received.wait_for(10)
    await feed.stop()


def test_build_replay_feed_from_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("offset_ms,symbol,bid,ask,last\n0,ZZZZ,1.00,1.02,1.01\n5,AAPL,2,3,2.5\n")
    settings = Settings(
        _env_file=None,
        market_source="replay",
        market_replay_file=path,
        market_replay_loop=False,
        market_symbols="AAPL",
    )
    with caplog.at_level(logging.WARNING, logger=FEED_LOGGER):
        feed = build_feed(settings, MemoryQuoteCache())
    assert caplog.messages == ["MARKET_SYMBOLS is ignored with MARKET_SOURCE=replay"]
    assert isinstance(feed._source, ReplaySource)
    zzzz, aapl = feed.symbols
    assert (zzzz.symbol, zzzz.name, zzzz.base_price) == ("ZZZZ", "ZZZZ", Decimal("1.01"))
    assert aapl.name == "Apple Inc."
