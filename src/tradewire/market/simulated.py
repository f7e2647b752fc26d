"""A simulated market: independent Poisson ticks, geometric Brownian motion prices.

Model (docs/MARKET.md has the reasoning):
- Each symbol ticks at random times, a Poisson process with `tick_rate` ticks per second: the
  gaps between its ticks are exponential with mean 1 / tick_rate. All symbols' next tick times
  sit in one heap; the source sleeps until the earliest.
- Between two ticks `dt` seconds apart the price moves by GBM with zero drift:
  `S *= exp(-sigma**2 / 2 * t + sigma * sqrt(t) * Z)` with `t = dt / SIM_SECONDS_PER_YEAR` and
  `Z` standard normal. Time is compressed 60x (one real second is one trading minute), so a
  28 %-volatility stock moves about 0.09 % per second and a 6.5-minute run looks like a day.
- `last` is the price rounded to cents (at least 0.02); bid and ask sit `HALF_SPREAD` (1.5 basis
  points, at least one cent) either side, so `0 < bid < last < ask`.

The price process is float internally; every price that leaves is a `Decimal` in cents.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tradewire.market.symbols import PRICE_TICK, SymbolInfo, make_quote
from tradewire.schemas import Quote

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
TIME_COMPRESSION = 60
"""Simulated trading seconds per real second."""
SIM_SECONDS_PER_YEAR = TRADING_SECONDS_PER_YEAR / TIME_COMPRESSION
"""Real seconds in a simulated trading year (98,280): the annualization of `volatility`."""
HALF_SPREAD = 0.00015
"""Half the bid/ask spread as a fraction of the price (1.5 basis points)."""
MIN_LAST = Decimal("0.02")
"""Floor for `last`, so the bid one cent below it stays positive."""


@dataclass
class _Track:
    """One symbol's state. `time` is in source seconds since the session opened."""

    info: SymbolInfo
    price: float
    open: Decimal
    seq: int = 1
    time: float = 0.0


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(PRICE_TICK, rounding=ROUND_HALF_UP)


def _opening_price(info: SymbolInfo) -> Decimal:
    return max(info.base_price.quantize(PRICE_TICK, rounding=ROUND_HALF_UP), MIN_LAST)


class SimulatedSource:
    """Quotes for `symbols` from the model above, forever.

    With a `seed`, the sequence of (symbol, bid, ask, last, seq) is the same on every run,
    independent of wall time. `clock` (seconds, `time.time` by default) stamps `ts` and anchors
    the schedule; `sleep` waits (tests pass a fake pair). State survives across `ticks()`
    calls: iterating again after a stop continues the session at the next `seq`.
    """

    def __init__(
        self,
        symbols: list[SymbolInfo],
        tick_rate: float,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not symbols:
            raise ValueError("a simulated market needs at least one symbol")
        if len({s.symbol for s in symbols}) != len(symbols):
            raise ValueError("duplicate symbols in the simulated market")
        if not tick_rate > 0:
            raise ValueError(f"tick_rate must be positive, got {tick_rate}")
        self.symbols = list(symbols)
        self._tick_rate = tick_rate
        self._rng = random.Random(seed)
        self._clock = clock
        self._sleep = sleep
        self._tracks = [
            _Track(info, float(info.base_price), _opening_price(info)) for info in self.symbols
        ]
        self._quotes: list[Quote] | None = None  # latest per track; None until the session opens
        # (due time in source seconds, track index): each symbol's next tick
        self._schedule = [(self._rng.expovariate(tick_rate), i) for i in range(len(symbols))]
        heapq.heapify(self._schedule)
        self._now = 0.0  # source time of the last tick

    def resume(self, quotes: Iterable[Quote]) -> None:
        """Continue from `quotes`, the market's latest state (when this instance takes over the
        feed of a cluster): same prices, opening prices and `seq` numbers, so no client sees a
        price jump back or a `seq` go down. Symbols without a quote keep their own state."""
        latest = {q.symbol: q for q in quotes}
        for track in self._tracks:
            quote = latest.get(track.info.symbol)
            if quote is not None:
                track.price, track.open, track.seq = float(quote.last), quote.open, quote.seq
        self._quotes = None

    def initial_quotes(self) -> list[Quote]:
        """The current quote per symbol: the opening quote (seq 1, at `base_price`) before any
        tick, the latest one after. The feed puts these in the cache before ticking."""
        return list(self._open_session())

    async def ticks(self) -> AsyncIterator[Quote]:
        quotes = self._open_session()
        anchor = self._clock() - self._now  # wall time of source time 0
        while True:
            due, index = self._schedule[0]
            await self._sleep(max(0.0, anchor + due - self._clock()))
            heapq.heapreplace(self._schedule, (due + self._rng.expovariate(self._tick_rate), index))
            self._now = due
            quotes[index] = self._advance(self._tracks[index], due)
            yield quotes[index]

    def _open_session(self) -> list[Quote]:
        if self._quotes is None:
            self._quotes = [self._quote(track) for track in self._tracks]
        return self._quotes

    def _advance(self, track: _Track, now: float) -> Quote:
        years = (now - track.time) / SIM_SECONDS_PER_YEAR
        sigma = track.info.volatility
        shock = self._rng.gauss(0.0, 1.0)
        track.price *= math.exp(-0.5 * sigma * sigma * years + sigma * math.sqrt(years) * shock)
        track.time = now
        track.seq += 1
        return self._quote(track)

    def _quote(self, track: _Track) -> Quote:
        last = max(_cents(track.price), MIN_LAST)
        half = max(_cents(track.price * HALF_SPREAD), PRICE_TICK)
        return make_quote(
            track.info.symbol,
            bid=max(last - half, PRICE_TICK),
            ask=last + half,
            last=last,
            open=track.open,
            seq=track.seq,
            ts=int(self._clock() * 1000),
        )
