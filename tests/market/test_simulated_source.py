from __future__ import annotations

import asyncio
import itertools
import math
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest
from market_clock import FakeTime

from tradewire.market.simulated import SIM_SECONDS_PER_YEAR, SimulatedSource
from tradewire.market.symbols import SymbolInfo, select_symbols
from tradewire.schemas import Quote

CENT = Decimal("0.01")


async def take(source: SimulatedSource, count: int) -> list[Quote]:
    quotes: list[Quote] = []
    ticks = source.ticks()
    async for quote in ticks:
        quotes.append(quote)
        if len(quotes) == count:
            break
    await ticks.aclose()  # type: ignore[attr-defined]
    return quotes


async def run_for(source: SimulatedSource, clock: FakeTime, seconds: float) -> list[Quote]:
    """Every quote made within `seconds` of source time."""
    end = clock.now + seconds
    quotes: list[Quote] = []
    ticks = source.ticks()
    async for quote in ticks:
        if clock.now > end:
            break
        quotes.append(quote)
    await ticks.aclose()  # type: ignore[attr-defined]
    return quotes


def prices(quotes: list[Quote]) -> list[tuple[str, Decimal, Decimal, Decimal, int]]:
    return [(q.symbol, q.bid, q.ask, q.last, q.seq) for q in quotes]


def make(
    symbols: str | list[SymbolInfo], clock: FakeTime, tick_rate: float = 2.0, seed: int | None = 7
) -> SimulatedSource:
    infos = select_symbols(symbols) if isinstance(symbols, str) else symbols
    return SimulatedSource(infos, tick_rate, seed=seed, clock=clock, sleep=clock.sleep)


async def test_same_seed_same_market_whatever_the_wall_time() -> None:
    early, late = FakeTime(start=1_000.0), FakeTime(start=2_000_000.0)
    first = await take(make("10", early), 300)
    second = await take(make("10", late), 300)
    assert prices(first) == prices(second)
    assert [q.ts for q in first] != [q.ts for q in second]
    other_seed = await take(make("10", FakeTime(), seed=8), 300)
    assert prices(other_seed) != prices(first)


async def test_unseeded_sources_differ(fake_time: FakeTime) -> None:
    one = await take(make("5", fake_time, seed=None), 50)
    two = await take(make("5", fake_time, seed=None), 50)
    assert prices(one) != prices(two)


async def test_initial_quotes_open_at_base_price_and_ticks_continue_at_seq_2(
    fake_time: FakeTime,
) -> None:
    symbols = select_symbols("AAPL,KO,BRK.B")
    source = make(symbols, fake_time)
    initial = source.initial_quotes()
    assert [q.symbol for q in initial] == ["AAPL", "KO", "BRK.B"]
    for quote, info in zip(initial, symbols, strict=True):
        assert quote.seq == 1
        assert quote.last == quote.open == info.base_price
        assert quote.change == 0 and quote.change_pct == 0
        assert quote.ts == int(fake_time.now * 1000)
    assert source.initial_quotes() == initial  # asking again changes nothing

    quotes = await take(source, 200)
    seqs: dict[str, list[int]] = defaultdict(list)
    for quote in quotes:
        seqs[quote.symbol].append(quote.seq)
    for symbol, seen in seqs.items():
        assert seen == list(range(2, len(seen) + 2)), symbol
    latest = {q.symbol: q for q in quotes}
    assert source.initial_quotes() == [latest[s.symbol] for s in symbols]


async def test_every_quote_is_sane(fake_time: FakeTime) -> None:
    source = make("60", fake_time, tick_rate=5)
    opens = {q.symbol: q.open for q in source.initial_quotes()}
    quotes = await take(source, 6000)
    assert [q.ts for q in quotes] == sorted(q.ts for q in quotes)
    assert quotes[-1].ts == int(fake_time.now * 1000)
    for quote in quotes:
        assert Decimal(0) < quote.bid < quote.last < quote.ask, quote
        assert quote.ask - quote.bid >= 2 * CENT
        for price in (quote.bid, quote.ask, quote.last):
            assert price == price.quantize(CENT)
        assert quote.open == opens[quote.symbol]
        assert quote.change == quote.last - quote.open
        assert quote.change_pct == (quote.change / quote.open * 100).quantize(CENT)


async def test_spread_is_a_few_basis_points_of_the_price(fake_time: FakeTime) -> None:
    expensive = SymbolInfo("BIG", "Big Co", Decimal("10000.00"), 0.2)
    cheap = SymbolInfo("PENNY", "Penny Co", Decimal("5.00"), 0.2)
    quotes = await take(make([expensive, cheap], fake_time), 400)
    big = [q.ask - q.bid for q in quotes if q.symbol == "BIG"]
    small = [q.ask - q.bid for q in quotes if q.symbol == "PENNY"]
    assert all(Decimal("2.00") <= spread <= Decimal("4.00") for spread in big)  # 3 bps
    assert set(small) == {2 * CENT}  # one cent either side at the least


async def test_prices_stay_positive_even_when_crashing(fake_time: FakeTime) -> None:
    doomed = SymbolInfo("DOOM", "Doomed Inc.", Decimal("0.05"), 60.0)
    quotes = await run_for(make([doomed], fake_time, tick_rate=10), fake_time, 600)
    assert min(q.last for q in quotes) == Decimal("0.02")  # the floor was reached
    assert all(q.bid >= CENT and q.bid < q.last < q.ask for q in quotes)


@pytest.mark.parametrize("tick_rate", [0.5, 4.0])
async def test_ticks_are_a_poisson_process_at_the_configured_rate(
    fake_time: FakeTime, tick_rate: float
) -> None:
    symbols, seconds = 10, 2500 / tick_rate  # 25,000 ticks expected in all
    source = make(str(symbols), fake_time, tick_rate=tick_rate)
    quotes = await run_for(source, fake_time, seconds)

    expected = symbols * tick_rate * seconds
    assert abs(len(quotes) - expected) < 0.03 * expected  # ~5 standard deviations
    times: dict[str, list[float]] = defaultdict(list)
    for quote in quotes:
        times[quote.symbol].append(quote.ts / 1000)
    for symbol, stamps in times.items():
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        mean = statistics.fmean(gaps)
        assert mean == pytest.approx(1 / tick_rate, rel=0.1), symbol
        # exponential gaps: standard deviation equals the mean (a steady ticker would give 0)
        assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.1), symbol
    assert min(fake_time.sleeps) >= 0


async def test_moves_follow_each_symbols_volatility(fake_time: FakeTime) -> None:
    # High prices so that rounding to cents does not blur the moves.
    calm = SymbolInfo("CALM", "Calm Utility", Decimal("20000.00"), 0.15)
    wild = SymbolInfo("WILD", "Wild Tech", Decimal("20000.00"), 0.60)
    source = make([calm, wild], fake_time, tick_rate=1)
    previous = {q.symbol: (q.last, fake_time.now) for q in source.initial_quotes()}
    # log returns divided by sqrt(elapsed years): samples of the annualized volatility
    scaled: dict[str, list[float]] = defaultdict(list)
    for quote in await take(source, 8000):
        price, then = previous[quote.symbol]
        now = quote.ts / 1000
        if now - then > 0.01:  # ts has millisecond resolution
            log_return = math.log(quote.last / price)
            scaled[quote.symbol].append(log_return / math.sqrt((now - then) / SIM_SECONDS_PER_YEAR))
        previous[quote.symbol] = (quote.last, now)
    assert statistics.pstdev(scaled["CALM"]) == pytest.approx(0.15, rel=0.08)
    assert statistics.pstdev(scaled["WILD"]) == pytest.approx(0.60, rel=0.08)


async def test_a_second_iteration_continues_the_session_without_a_burst(
    fake_time: FakeTime,
) -> None:
    uninterrupted = await take(make("5", FakeTime()), 120)

    source = make("5", fake_time)
    first = await take(source, 50)
    fake_time.now += 3600  # the feed was stopped for an hour
    sleeps_before = len(fake_time.sleeps)
    second = await take(source, 70)

    assert prices(first + second) == prices(uninterrupted)
    # the pause is not made up for: the schedule resumes from where it stopped
    resumed_delays = fake_time.sleeps[sleeps_before:]
    assert sum(resumed_delays) < 60


async def test_resume_continues_from_the_markets_state(fake_time: FakeTime) -> None:
    """Another instance ran the market; this source picks up its prices, opens and seq."""
    elsewhere = await take(make("AAPL,KO", FakeTime(), seed=99), 40)
    state = list({q.symbol: q for q in elsewhere}.values())
    source = make("AAPL,KO,MSFT", fake_time)
    source.resume(state)
    initial = {q.symbol: q for q in source.initial_quotes()}
    for old in state:
        new = initial[old.symbol]
        assert (new.seq, new.last, new.open, new.bid, new.ask) == (
            old.seq,
            old.last,
            old.open,
            old.bid,
            old.ask,
        )
    assert initial["MSFT"].seq == 1  # no state elsewhere: its own opening quote
    after = {q.symbol: q for q in await take(source, 30)}
    for old in state:
        assert after[old.symbol].seq > old.seq
        assert after[old.symbol].open == old.open


async def test_real_sleep_paces_the_ticks() -> None:
    source = SimulatedSource(select_symbols("2"), tick_rate=200, seed=1)
    async with asyncio.timeout(10):
        quotes = await take(source, 20)
    assert [q.seq for q in quotes if q.symbol == "AAPL"][:2] == [2, 3]


@pytest.mark.parametrize(
    ("symbols", "tick_rate", "message"),
    [
        ([], 1.0, "at least one symbol"),
        (select_symbols("AAPL") * 2, 1.0, "duplicate"),
        (select_symbols("AAPL"), 0.0, "tick_rate must be positive"),
    ],
)
def test_rejects_bad_arguments(symbols: list[SymbolInfo], tick_rate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedSource(symbols, tick_rate)
