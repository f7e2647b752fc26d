"""Market data: the symbol universe, quote sources (simulated, replay), the latest-quote cache,
the feed that ties them together, and the one-minute bars built from it.

    cache = quote_cache_from_url(settings.redis_url)
    feed = build_feed(settings, cache)
    feed.on("quote", handler)   # every new Quote, after it is in the cache
    recorder = BarRecorder(bar_store_from_url(settings.redis_url))
    recorder.start()
    feed.on(PUBLISHED, recorder.on_quote)   # on the instance that runs the source only
    await feed.start()

docs/MARKET.md describes the simulation model, the replay file format, and the cache and bar
store contracts.
"""

from tradewire.market.bars import (
    BarRecorder,
    BarStore,
    MemoryBarStore,
    RedisBarStore,
    bar_store_from_url,
)
from tradewire.market.cache import (
    MemoryQuoteCache,
    QuoteCache,
    RedisQuoteCache,
    quote_cache_from_url,
)
from tradewire.market.feed import PUBLISHED, QUOTE, MarketFeed, QuoteSource, build_feed
from tradewire.market.replay import ReplaySource, sample_ticks_path
from tradewire.market.simulated import SimulatedSource
from tradewire.market.symbols import UNIVERSE, SymbolInfo, select_symbols, symbol_info

__all__ = [
    "PUBLISHED",
    "QUOTE",
    "UNIVERSE",
    "BarRecorder",
    "BarStore",
    "MarketFeed",
    "MemoryBarStore",
    "MemoryQuoteCache",
    "QuoteCache",
    "QuoteSource",
    "RedisBarStore",
    "RedisQuoteCache",
    "ReplaySource",
    "SimulatedSource",
    "SymbolInfo",
    "bar_store_from_url",
    "build_feed",
    "quote_cache_from_url",
    "sample_ticks_path",
    "select_symbols",
    "symbol_info",
]
