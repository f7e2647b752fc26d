from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from market_clock import FakeTime

from tradewire.market.replay import ReplaySource, load_ticks, sample_ticks_path
from tradewire.schemas import Quote

TICKS = """offset_ms,symbol,bid,ask,last
0,AAPL,189.48,189.52,189.50
0,MSFT,415.10,415.30,415.20
500,AAPL,189.58,189.62,189.60

1500,msft,414.90,415.10,415.00
2000,AAPL,188.98,189.02,189.00
"""


@pytest.fixture
def ticks_file(tmp_path: Path) -> Path:
    path = tmp_path / "ticks.csv"
    path.write_text(TICKS)
    return path


def make(path: Path, clock: FakeTime, speed: float = 1.0, loop: bool = False) -> ReplaySource:
    return ReplaySource(path, speed=speed, loop=loop, clock=clock, sleep=clock.sleep)


async def take(source: ReplaySource, count: int | None = None) -> list[Quote]:
    quotes: list[Quote] = []
    ticks = source.ticks()
    async for quote in ticks:
        quotes.append(quote)
        if len(quotes) == count:
            break
    await ticks.aclose()  # type: ignore[attr-defined]
    return quotes


def test_the_shipped_sample_is_package_data_and_valid() -> None:
    path = sample_ticks_path()
    assert path.is_file()
    rows = load_ticks(path)
    assert len(rows) >= 300
    assert {row.symbol for row in rows} == {"AAPL", "MSFT", "NVDA", "TSLA", "KO"}
    source = ReplaySource(path)
    assert source.symbols == ["AAPL", "MSFT", "NVDA", "TSLA", "KO"]


async def test_rows_become_quotes_at_their_offsets(ticks_file: Path, fake_time: FakeTime) -> None:
    start = fake_time.now
    source = make(ticks_file, fake_time)
    quotes = await take(source)
    assert [(q.symbol, q.last, q.seq) for q in quotes] == [
        ("AAPL", Decimal("189.50"), 1),
        ("MSFT", Decimal("415.20"), 1),
        ("AAPL", Decimal("189.60"), 2),
        ("MSFT", Decimal("415.00"), 2),
        ("AAPL", Decimal("189.00"), 3),
    ]
    assert [q.ts - int(start * 1000) for q in quotes] == [0, 0, 500, 1500, 2000]
    last = quotes[-1]
    assert (last.bid, last.ask, last.open) == (
        Decimal("188.98"),
        Decimal("189.02"),
        Decimal("189.50"),
    )
    assert last.change == Decimal("-0.50")
    assert last.change_pct == Decimal("-0.26")
    assert quotes[3].change_pct == Decimal("-0.05")
    assert await take(source) == []  # without loop, the replay is over


async def test_speed_scales_time(ticks_file: Path, fake_time: FakeTime) -> None:
    start = int(fake_time.now * 1000)
    quotes = await take(make(ticks_file, fake_time, speed=4))
    assert [q.ts - start for q in quotes] == [0, 0, 125, 375, 500]


async def test_loop_restarts_with_continued_seq(ticks_file: Path, fake_time: FakeTime) -> None:
    start = int(fake_time.now * 1000)
    quotes = await take(make(ticks_file, fake_time, loop=True), 15)
    assert [q.seq for q in quotes if q.symbol == "AAPL"] == list(range(1, 10))
    assert [q.seq for q in quotes if q.symbol == "MSFT"] == list(range(1, 7))
    # the next pass starts one average row spacing (2000 ms / 4) after the last row
    assert [q.ts - start for q in quotes[5:7]] == [2500, 2500]
    assert [q.ts - start for q in quotes[10:]] == [5000, 5000, 5500, 6500, 7000]
    assert {q.open for q in quotes if q.symbol == "AAPL"} == {Decimal("189.50")}


async def test_a_single_row_loops_once_a_second(tmp_path: Path, fake_time: FakeTime) -> None:
    path = tmp_path / "one.csv"
    path.write_text("offset_ms,symbol,bid,ask,last\n250,KO,62.39,62.41,62.40\n")
    start = int(fake_time.now * 1000)
    quotes = await take(make(path, fake_time, loop=True), 3)
    assert [q.ts - start for q in quotes] == [250, 1250, 2250]


async def test_initial_quotes_are_each_symbols_first_row(
    ticks_file: Path, fake_time: FakeTime
) -> None:
    source = make(ticks_file, fake_time)
    assert source.opening_prices == {"AAPL": Decimal("189.50"), "MSFT": Decimal("415.20")}
    initial = source.initial_quotes()
    assert [(q.symbol, q.last, q.seq, q.change) for q in initial] == [
        ("AAPL", Decimal("189.50"), 1, 0),
        ("MSFT", Decimal("415.20"), 1, 0),
    ]
    assert source.initial_quotes() == initial
    quotes = await take(source, 3)
    assert [(q.symbol, q.seq) for q in quotes] == [("AAPL", 2), ("MSFT", 2), ("AAPL", 3)]
    assert source.initial_quotes() == [quotes[2], quotes[1]]


async def test_a_second_iteration_continues_without_a_burst(
    ticks_file: Path, fake_time: FakeTime
) -> None:
    source = make(ticks_file, fake_time)
    first = await take(source, 3)  # up to offset 500
    fake_time.now += 60  # stopped for a minute
    resumed_at = int(fake_time.now * 1000)
    rest = await take(source)
    assert [q.seq for q in first + rest if q.symbol == "AAPL"] == [1, 2, 3]
    assert [q.ts - resumed_at for q in rest] == [1000, 1500]


async def test_real_sleep(tmp_path: Path) -> None:
    path = tmp_path / "fast.csv"
    path.write_text("offset_ms,symbol,bid,ask,last\n0,KO,1,2,1.5\n5,KO,1,2,1.6\n")
    quotes = await take(ReplaySource(path, speed=10, loop=False))
    assert [q.last for q in quotes] == [Decimal("1.5"), Decimal("1.6")]


def test_byte_order_mark_and_spaces_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufeffoffset_ms, symbol, bid, ask, last\n 0 , aapl , 1.00 , 1.02 , 1.01\n")
    (row,) = load_ticks(path)
    assert (row.offset_ms, row.symbol, row.last) == (0, "AAPL", Decimal("1.01"))


GOOD = "0,AAPL,189.48,189.52,189.50\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"line 1: expected the header offset_ms,symbol,bid,ask,last"),
        ("time,symbol,bid,ask,last\n" + GOOD, r"line 1: expected the header"),
        ("offset_ms,symbol,bid,ask,last\n", r"no ticks after the header"),
        ("offset_ms,symbol,bid,ask,last\n" + GOOD + "10,AAPL,1,2\n", r"line 3: expected 5 fields"),
        (
            "offset_ms,symbol,bid,ask,last\n" + GOOD + "\n1.5,AAPL,1,2,1.5\n",
            r"line 4: offset_ms must be a whole number of milliseconds, got '1.5'",
        ),
        ("offset_ms,symbol,bid,ask,last\n-1,AAPL,1,2,1.5\n", r"line 2: offset_ms must be"),
        (
            "offset_ms,symbol,bid,ask,last\n100,AAPL,1,2,1.5\n99,AAPL,1,2,1.5\n",
            r"line 3: offset_ms 99 is before the previous row's 100",
        ),
        ("offset_ms,symbol,bid,ask,last\n0,AA PL,1,2,1.5\n", r"line 2: symbol must be"),
        ("offset_ms,symbol,bid,ask,last\n0,,1,2,1.5\n", r"line 2: symbol must be"),
        ("offset_ms,symbol,bid,ask,last\n0,AAPL,abc,2,1.5\n", r"line 2: bid is not a number"),
        ("offset_ms,symbol,bid,ask,last\n0,AAPL,1,2,0\n", r"line 2: last must be a positive"),
        (
            "offset_ms,symbol,bid,ask,last\n0,AAPL,1,Infinity,1.5\n",
            r"line 2: ask must be a positive",
        ),
        ("offset_ms,symbol,bid,ask,last\n0,AAPL,1,NaN,1.5\n", r"line 2: ask must be a positive"),
        (
            "offset_ms,symbol,bid,ask,last\n0,AAPL,2.01,2.00,2\n",
            r"line 2: bid 2.01 is above ask 2.00",
        ),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        ReplaySource(path)
    assert str(caught.value).startswith(str(path))


def test_rejects_a_bad_speed(ticks_file: Path) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        ReplaySource(ticks_file, speed=0)


async def test_resume_continues_seq_and_open_from_the_markets_state(
    ticks_file: Path, fake_time: FakeTime
) -> None:
    earlier = ReplaySource(ticks_file, loop=False)
    elsewhere = [q for q in earlier.initial_quotes() if q.symbol == "AAPL"]
    stale = elsewhere[0].model_copy(update={"seq": 40, "open": Decimal("180.00")})
    unknown = stale.model_copy(update={"symbol": "ZZZZ"})

    source = make(ticks_file, fake_time)
    source.resume([stale, unknown])
    initial = {q.symbol: q for q in source.initial_quotes()}
    assert initial["AAPL"] == stale
    assert initial["MSFT"].seq == 1
    quotes = await take(source, 3)
    assert [(q.symbol, q.seq) for q in quotes] == [("AAPL", 41), ("MSFT", 2), ("AAPL", 42)]
    assert quotes[0].open == Decimal("180.00")
    assert quotes[0].change == Decimal("9.50")
