"""The market feed: one quote source -> the quote cache -> "quote" listeners.

The realtime layer and the order executor subscribe with `feed.on(QUOTE, handler)`; the feed
never imports them. Writers of shared market state other than the cache (the bar recorder)
subscribe to `PUBLISHED`, which fires on the instance that runs the source only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from pydantic import ValidationError
from pyee.asyncio import AsyncIOEventEmitter

from tradewire.cluster.bus import Bus
from tradewire.market.cache import QuoteCache
from tradewire.market.replay import ReplaySource, sample_ticks_path
from tradewire.market.simulated import SimulatedSource
from tradewire.market.symbols import SymbolInfo, select_symbols, symbol_info
from tradewire.schemas import Quote
from tradewire.settings import Settings

logger = logging.getLogger(__name__)

QUOTES_CHANNEL = "quotes"
QUOTE = "quote"
"""Event (Quote) on every instance, for each quote of the market (the cluster's, via the bus)."""
PUBLISHED = "published"
"""Event (Quote) on the instance that runs the source only, once per quote it publishes, after
the cache write and before the quote goes to the bus or the "quote" listeners."""


class QuoteSource(Protocol):
    """Where quotes come from (`SimulatedSource`, `ReplaySource`)."""

    def initial_quotes(self) -> list[Quote]:
        """The current quote per symbol, so the cache is full before the first tick."""
        ...

    def ticks(self) -> AsyncIterator[Quote]:
        """New quotes as they happen; `seq` per symbol continues from `initial_quotes`.
        Iterating again after the iterator was closed continues where it stopped."""
        ...


class MarketFeed(AsyncIOEventEmitter):
    """Runs one source, writes every quote to the cache, emits `PUBLISHED` (Quote) here, then
    emits `QUOTE` (Quote) to listeners.

    Listeners should be fast: sync listeners run inline in the feed loop, async ones are
    scheduled as tasks (fire and forget; `stop` does not wait for them). A listener's exception
    is logged (event, symbol, seq) and never stops the feed. A failing cache write is logged
    once per outage and the quote is still emitted. If the source itself fails, the feed logs
    it and stops (`running` turns False).
    """

    def __init__(
        self,
        source: QuoteSource,
        cache: QuoteCache,
        symbols: list[SymbolInfo],
        bus: Bus | None = None,
    ) -> None:
        """With a `bus` (cluster mode) the feed that runs the source publishes each quote on
        the bus's "quotes" channel instead of emitting it, and every instance's feed, the
        publisher's included, emits what arrives there: one source, every instance's
        listeners."""
        super().__init__()
        self._bus = bus
        self._bus_failing = False
        if bus is not None:
            bus.subscribe(QUOTES_CHANNEL, self._receive)
        self.symbols = list(symbols)
        self._by_symbol = {info.symbol: info for info in self.symbols}
        self._source = source
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None  # set by stop() for the running loop
        self._emitting: tuple[str, Quote] | None = None  # event and quote, for error context
        self._cache_failing = False
        self.add_listener("error", self._log_listener_error)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def is_known(self, symbol: str) -> bool:
        return symbol.upper() in self._by_symbol

    def info(self, symbol: str) -> SymbolInfo | None:
        return self._by_symbol.get(symbol.upper())

    async def start(self) -> None:
        """Put the source's current quotes in the cache (so `latest` answers at once), then
        run the tick loop in a task. No-op when already running."""
        if self.running:
            return
        resume = getattr(self._source, "resume", None)
        if resume is not None:
            # continue the market where it stands (another instance may have run it)
            resume(await self._cache.all())
        for quote in self._source.initial_quotes():
            await self._cache.put(quote)
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._stopping), name="market-feed")
        logger.info("market feed started", extra={"symbols": len(self.symbols)})

    async def stop(self) -> None:
        """Cancel the tick loop and wait for it to end. Idempotent; `start` may follow."""
        task, self._task = self._task, None
        if task is None:
            return
        # Cancel, and also ask the loop to end: on Python 3.11 a cancellation that lands while
        # redis-py finishes a socket write (asyncio.wait_for) can be swallowed, and the loop
        # would go on forever.
        if self._stopping is not None:
            self._stopping.set()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself was cancelled
        logger.info("market feed stopped")

    async def _run(self, stopping: asyncio.Event) -> None:
        ticks = self._source.ticks()
        try:
            async for quote in ticks:
                await self._publish(quote)
                if stopping.is_set():
                    return
        except Exception:
            logger.exception(
                "market source failed; the feed has stopped",
                extra={"source": type(self._source).__name__},
            )
        else:
            logger.info(
                "market source finished; the feed has stopped",
                extra={"source": type(self._source).__name__},
            )
        finally:
            # Close an async generator now (cancelled mid-publish it would wait for the GC).
            aclose = getattr(ticks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _publish(self, quote: Quote) -> None:
        try:
            await self._cache.put(quote)
        except Exception as exc:
            if not self._cache_failing:
                self._cache_failing = True
                logger.error(
                    "quote cache write failed; emitting without caching",
                    exc_info=exc,
                    extra={"symbol": quote.symbol, "seq": quote.seq},
                )
        else:
            if self._cache_failing:
                self._cache_failing = False
                logger.info("quote cache writes recovered", extra={"symbol": quote.symbol})
        self._emit_logged(PUBLISHED, quote)
        if self._bus is not None:
            await self._relay(self._bus, quote)
            return
        self._deliver(quote)

    async def _relay(self, bus: Bus, quote: Quote) -> None:
        try:
            await bus.publish(QUOTES_CHANNEL, quote.wire())
        except Exception as exc:
            if not self._bus_failing:
                self._bus_failing = True
                logger.error(
                    "quote not published to the cluster; retrying with the next",
                    exc_info=exc,
                    extra={"symbol": quote.symbol, "seq": quote.seq},
                )
        else:
            if self._bus_failing:
                self._bus_failing = False
                logger.info("quote publishing recovered", extra={"symbol": quote.symbol})

    def _receive(self, message: dict[str, object]) -> None:
        """A quote from the cluster's feed (bus subscription)."""
        try:
            quote = Quote.model_validate(message)
        except ValidationError:
            logger.warning("malformed quote on the bus; dropped")
            return
        self._deliver(quote)

    def _deliver(self, quote: Quote) -> None:
        self._emit_logged(QUOTE, quote)

    def _emit_logged(self, event: str, quote: Quote) -> None:
        self._emitting = (event, quote)
        try:
            self.emit(event, quote)
        except Exception as exc:  # only when someone removed the "error" listener
            self._log_listener_error(exc)
        finally:
            self._emitting = None

    def _log_listener_error(self, exc: Exception) -> None:
        # Sync listeners fail inside emit(), so the quote is known; async ones fail later.
        context: dict[str, object] = {"event": QUOTE, "error_type": type(exc).__name__}
        if self._emitting is not None:
            event, quote = self._emitting
            context.update(event=event, symbol=quote.symbol, seq=quote.seq)
        logger.error("market feed listener failed", exc_info=exc, extra=context)


def build_feed(settings: Settings, cache: QuoteCache, bus: Bus | None = None) -> MarketFeed:
    """The feed `settings` describe: MARKET_SOURCE, MARKET_SYMBOLS, MARKET_TICK_RATE,
    MARKET_SEED for the simulation; MARKET_REPLAY_FILE, _SPEED, _LOOP for replay (which trades
    the file's symbols and ignores MARKET_SYMBOLS). Raises `ValueError` for a bad symbol list or
    replay file."""
    source: QuoteSource
    if settings.market_source == "simulated":
        symbols = select_symbols(settings.market_symbols)
        source = SimulatedSource(symbols, settings.market_tick_rate, seed=settings.market_seed)
    else:
        path = settings.market_replay_file or sample_ticks_path()
        replay = ReplaySource(
            path, speed=settings.market_replay_speed, loop=settings.market_replay_loop
        )
        if "market_symbols" in settings.model_fields_set:
            logger.warning(
                "MARKET_SYMBOLS is ignored with MARKET_SOURCE=replay",
                extra={"replay_file": str(path)},
            )
        # Names from the universe where known; other tickers are named after themselves.
        symbols = [
            symbol_info(symbol) or SymbolInfo(symbol, symbol, first_last, 0.0)
            for symbol, first_last in replay.opening_prices.items()
        ]
        source = replay
    return MarketFeed(source, cache, symbols, bus)
