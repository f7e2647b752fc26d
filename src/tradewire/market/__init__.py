"""Market data: the symbol universe, quote sources (simulated, replay), the latest-quote cache
and the feed that ties them together.

    cache = quote_cache_from_url(settings.redis_url)
    feed = build_feed(settings, cache)
    feed.on("quote", handler)   # every new Quote, after it is in the cache
    await feed.start()

docs/MARKET.md describes the simulation model, the replay file format and the cache contract.
"""

from tradewire.market.cache import (
    MemoryQuoteCache,
    QuoteCache,
    RedisQuoteCache,
    quote_cache_from_url,
)
from tradewire.market.feed import MarketFeed, QuoteSource, build_feed
from tradewire.market.replay import ReplaySource, sample_ticks_path
from tradewire.market.simulated import SimulatedSource
from tradewire.market.symbols import UNIVERSE, SymbolInfo, select_symbols, symbol_info

__all__ = [
    "UNIVERSE",
    "MarketFeed",
    "MemoryQuoteCache",
    "QuoteCache",
    "QuoteSource",
    "RedisQuoteCache",
    "ReplaySource",
    "SimulatedSource",
    "SymbolInfo",
    "build_feed",
    "quote_cache_from_url",
    "sample_ticks_path",
    "select_symbols",
    "symbol_info",
]
