"""Replay recorded ticks from a CSV file, in real time (scaled by `speed`), optionally looping.

File format (docs/MARKET.md has an example):

    offset_ms,symbol,bid,ask,last
    0,AAPL,189.48,189.52,189.50
    250,MSFT,415.14,415.26,415.20

`offset_ms` is milliseconds from the start of the file and never decreases; prices are positive
decimals with `bid <= ask`. Blank lines are skipped. The whole file is checked when the source is
made: a malformed row raises `ValueError` naming the file and line.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from tradewire.market.symbols import make_quote
from tradewire.schemas import Quote

HEADER = ("offset_ms", "symbol", "bid", "ask", "last")
DEFAULT_LOOP_GAP_MS = 1000
"""Pause before a loop restarts when the file has no spacing to copy (one row, or all at 0)."""
_OFFSET = re.compile(r"\d+")
_TICKER = re.compile(r"[A-Z.]{1,10}")


def sample_ticks_path() -> Traversable:
    """The sample file shipped with the package (a few symbols, a couple of minutes)."""
    return resources.files("tradewire.market").joinpath("data", "sample_ticks.csv")


@dataclass(frozen=True, slots=True)
class Tick:
    """One row of a replay file."""

    offset_ms: int
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal


def load_ticks(path: Path | Traversable) -> list[Tick]:
    """Parse and check a replay file; `ValueError("<file>, line N: <problem>")` on the first
    bad row, or when the file holds no ticks."""
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    header = next(reader, None)
    if header is None or tuple(cell.strip() for cell in header) != HEADER:
        raise ValueError(
            f"{path}, line 1: expected the header {','.join(HEADER)}, "
            f"got {','.join(header or [])!r}"
        )
    ticks: list[Tick] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        try:
            tick = _parse_row(row)
        except ValueError as exc:
            raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
        if ticks and tick.offset_ms < ticks[-1].offset_ms:
            raise ValueError(
                f"{path}, line {reader.line_num}: offset_ms {tick.offset_ms} is "
                f"before the previous row's {ticks[-1].offset_ms} "
                "(offsets must not decrease)"
            )
        ticks.append(tick)
    if not ticks:
        raise ValueError(f"{path}: no ticks after the header")
    return ticks


def _parse_row(row: list[str]) -> Tick:
    if len(row) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} fields ({','.join(HEADER)}), got {len(row)}")
    offset, symbol, *prices = (cell.strip() for cell in row)
    if not _OFFSET.fullmatch(offset):
        raise ValueError(f"offset_ms must be a whole number of milliseconds, got {offset!r}")
    symbol = symbol.upper()
    if not _TICKER.fullmatch(symbol):
        raise ValueError(f"symbol must be 1-10 letters or dots, got {symbol!r}")
    bid, ask, last = (_price(name, text) for name, text in zip(HEADER[2:], prices, strict=True))
    if bid > ask:
        raise ValueError(f"bid {bid} is above ask {ask}")
    return Tick(int(offset), symbol, bid, ask, last)


def _price(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be a positive price, got {text!r}")
    return value


@dataclass
class _Track:
    open: Decimal
    latest: Quote | None = None  # None until the symbol's first quote is made


class ReplaySource:
    """Quotes from a replay file. Row `i` is emitted `offset_ms / speed` after the replay
    started; every row becomes one quote, with `open` the symbol's first `last` in the file,
    `seq` counting per symbol and `ts` the time it is emitted.

    With `loop`, the file restarts after its last row, one average row spacing later, with
    `seq` continuing. Without it, `ticks()` ends after the last row. State survives across
    `ticks()` calls: iterating again continues at the next row.
    """

    def __init__(
        self,
        path: Path | Traversable,
        speed: float = 1.0,
        loop: bool = True,
        clock: Callable[[], float] = time.time,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self._rows = load_ticks(path)
        self._speed = speed
        self._loop = loop
        self._clock = clock
        self._sleep = sleep
        self._tracks: dict[str, _Track] = {}  # symbol -> state, in order of first appearance
        for row in self._rows:
            self._tracks.setdefault(row.symbol, _Track(open=row.last))
        first_ms, last_ms = self._rows[0].offset_ms, self._rows[-1].offset_ms
        gap_ms = round((last_ms - first_ms) / max(len(self._rows) - 1, 1))
        # a new pass starts so that its first row comes one row spacing after the last row
        self._period_ms = last_ms - first_ms + (gap_ms or DEFAULT_LOOP_GAP_MS)
        self._cursor = 0  # next row to emit
        self._pass_start_ms = 0  # file time at which the current pass started
        self._now_ms = 0  # file time of the last emitted row

    @property
    def symbols(self) -> list[str]:
        """The file's tickers, in order of first appearance."""
        return list(self._tracks)

    @property
    def opening_prices(self) -> dict[str, Decimal]:
        """Each symbol's first `last` in the file (its `open`), in order of first appearance."""
        return {symbol: track.open for symbol, track in self._tracks.items()}

    def resume(self, quotes: Iterable[Quote]) -> None:
        """Continue `seq` (and `open`) from `quotes`, the market's latest state, when this
        instance takes over the feed of a cluster. Playback restarts at the file's first row."""
        for quote in quotes:
            track = self._tracks.get(quote.symbol)
            if track is not None:
                track.open, track.latest = quote.open, quote

    def initial_quotes(self) -> list[Quote]:
        """The current quote per symbol; before playback, each symbol's first row (seq 1)."""
        firsts: dict[str, Tick] = {}
        for row in self._rows:
            firsts.setdefault(row.symbol, row)
        return [
            track.latest or self._quote(firsts[symbol]) for symbol, track in self._tracks.items()
        ]

    async def ticks(self) -> AsyncIterator[Quote]:
        anchor = self._clock() - self._now_ms / 1000 / self._speed  # wall time of file time 0
        while True:
            if self._cursor == len(self._rows):
                if not self._loop:
                    return
                self._cursor = 0
                self._pass_start_ms += self._period_ms
            row = self._rows[self._cursor]
            due_ms = self._pass_start_ms + row.offset_ms
            await self._sleep(max(0.0, anchor + due_ms / 1000 / self._speed - self._clock()))
            self._cursor += 1
            self._now_ms = due_ms
            yield self._quote(row)

    def _quote(self, row: Tick) -> Quote:
        track = self._tracks[row.symbol]
        seq = track.latest.seq + 1 if track.latest else 1
        track.latest = make_quote(
            row.symbol,
            bid=row.bid,
            ask=row.ask,
            last=row.last,
            open=track.open,
            seq=seq,
            ts=int(self._clock() * 1000),
        )
        return track.latest
