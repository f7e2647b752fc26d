"""The tradable universe: well-known US tickers with a plausible price level and volatility.

The simulated market starts each symbol at `base_price` and moves it with the symbol's annualized
`volatility` (see `simulated.py`). The order of `UNIVERSE` matters: `MARKET_SYMBOLS=50` takes the
first 50, so the most recognizable names come first. `make_quote` holds the change math every
source shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tradewire.schemas import Quote


@dataclass(frozen=True)
class SymbolInfo:
    symbol: str
    """Upper-case ticker, e.g. "AAPL" or "BRK.B"."""
    name: str
    base_price: Decimal
    """Price level the simulation opens at."""
    volatility: float
    """Annualized volatility (0.28 = 28 %): utilities around 0.15, small tech 0.6 and up."""


def _s(symbol: str, name: str, price: str, volatility: float) -> SymbolInfo:
    return SymbolInfo(symbol, name, Decimal(price), volatility)


UNIVERSE: tuple[SymbolInfo, ...] = (
    _s("AAPL", "Apple Inc.", "189.50", 0.26),
    _s("MSFT", "Microsoft Corporation", "415.20", 0.24),
    _s("NVDA", "NVIDIA Corporation", "121.40", 0.50),
    _s("AMZN", "Amazon.com, Inc.", "182.30", 0.32),
    _s("GOOGL", "Alphabet Inc. Class A", "172.60", 0.29),
    _s("META", "Meta Platforms, Inc.", "498.70", 0.38),
    _s("TSLA", "Tesla, Inc.", "178.90", 0.58),
    _s("BRK.B", "Berkshire Hathaway Inc. Class B", "412.30", 0.16),
    _s("JPM", "JPMorgan Chase & Co.", "198.40", 0.22),
    _s("V", "Visa Inc.", "274.10", 0.19),
    _s("UNH", "UnitedHealth Group Incorporated", "512.80", 0.24),
    _s("XOM", "Exxon Mobil Corporation", "113.60", 0.25),
    _s("JNJ", "Johnson & Johnson", "152.30", 0.16),
    _s("WMT", "Walmart Inc.", "68.20", 0.18),
    _s("MA", "Mastercard Incorporated", "452.90", 0.20),
    _s("PG", "The Procter & Gamble Company", "165.40", 0.15),
    _s("AVGO", "Broadcom Inc.", "168.50", 0.40),
    _s("HD", "The Home Depot, Inc.", "345.70", 0.22),
    _s("CVX", "Chevron Corporation", "156.20", 0.24),
    _s("KO", "The Coca-Cola Company", "62.40", 0.14),
    _s("PEP", "PepsiCo, Inc.", "171.80", 0.15),
    _s("COST", "Costco Wholesale Corporation", "812.50", 0.20),
    _s("ABBV", "AbbVie Inc.", "163.90", 0.21),
    _s("MRK", "Merck & Co., Inc.", "128.70", 0.20),
    _s("LLY", "Eli Lilly and Company", "786.40", 0.30),
    _s("BAC", "Bank of America Corporation", "38.90", 0.27),
    _s("ADBE", "Adobe Inc.", "478.20", 0.33),
    _s("CRM", "Salesforce, Inc.", "268.50", 0.34),
    _s("NFLX", "Netflix, Inc.", "625.10", 0.40),
    _s("AMD", "Advanced Micro Devices, Inc.", "158.30", 0.52),
    _s("INTC", "Intel Corporation", "30.80", 0.42),
    _s("ORCL", "Oracle Corporation", "124.60", 0.30),
    _s("CSCO", "Cisco Systems, Inc.", "47.90", 0.22),
    _s("DIS", "The Walt Disney Company", "101.70", 0.28),
    _s("NKE", "NIKE, Inc.", "93.40", 0.30),
    _s("MCD", "McDonald's Corporation", "258.20", 0.17),
    _s("BA", "The Boeing Company", "179.60", 0.38),
    _s("IBM", "International Business Machines Corporation", "168.90", 0.22),
    _s("QCOM", "QUALCOMM Incorporated", "196.40", 0.36),
    _s("T", "AT&T Inc.", "17.30", 0.20),
    _s("VZ", "Verizon Communications Inc.", "40.10", 0.19),
    _s("PFE", "Pfizer Inc.", "28.40", 0.24),
    _s("GS", "The Goldman Sachs Group, Inc.", "458.30", 0.25),
    _s("CAT", "Caterpillar Inc.", "338.70", 0.28),
    _s("UBER", "Uber Technologies, Inc.", "68.90", 0.42),
    _s("PYPL", "PayPal Holdings, Inc.", "63.20", 0.40),
    _s("SBUX", "Starbucks Corporation", "79.80", 0.27),
    _s("F", "Ford Motor Company", "12.40", 0.36),
    _s("GM", "General Motors Company", "45.60", 0.34),
    _s("PLTR", "Palantir Technologies Inc.", "24.70", 0.62),
    _s("COIN", "Coinbase Global, Inc.", "226.40", 0.78),
    _s("SNOW", "Snowflake Inc.", "151.20", 0.55),
    _s("RIVN", "Rivian Automotive, Inc.", "11.20", 0.72),
    _s("ROKU", "Roku, Inc.", "59.80", 0.65),
    _s("DDOG", "Datadog, Inc.", "117.40", 0.50),
    _s("CRWD", "CrowdStrike Holdings, Inc.", "312.60", 0.50),
    _s("NET", "Cloudflare, Inc.", "78.30", 0.58),
    _s("SOFI", "SoFi Technologies, Inc.", "7.10", 0.62),
    _s("NEE", "NextEra Energy, Inc.", "71.20", 0.20),
    _s("DUK", "Duke Energy Corporation", "101.30", 0.15),
    _s("SO", "The Southern Company", "78.40", 0.15),
    _s("D", "Dominion Energy, Inc.", "49.60", 0.18),
    _s("AEP", "American Electric Power Company, Inc.", "87.90", 0.16),
    _s("XEL", "Xcel Energy Inc.", "54.30", 0.17),
    _s("TGT", "Target Corporation", "147.20", 0.32),
    _s("LOW", "Lowe's Companies, Inc.", "221.50", 0.25),
    _s("UPS", "United Parcel Service, Inc.", "139.80", 0.26),
    _s("HON", "Honeywell International Inc.", "198.70", 0.20),
    _s("GE", "GE Aerospace", "160.20", 0.30),
    _s("MMM", "3M Company", "101.40", 0.26),
    _s("C", "Citigroup Inc.", "61.80", 0.28),
    _s("WFC", "Wells Fargo & Company", "58.90", 0.27),
    _s("MS", "Morgan Stanley", "97.40", 0.25),
    _s("AXP", "American Express Company", "231.60", 0.25),
    _s("ABNB", "Airbnb, Inc.", "146.30", 0.42),
    _s("ZM", "Zoom Video Communications, Inc.", "60.20", 0.45),
    _s("SNAP", "Snap Inc.", "15.40", 0.70),
    _s("LYFT", "Lyft, Inc.", "16.80", 0.60),
    _s("AMGN", "Amgen Inc.", "281.50", 0.22),
    _s("TXN", "Texas Instruments Incorporated", "194.60", 0.25),
    _s("MU", "Micron Technology, Inc.", "128.40", 0.48),
    _s("GME", "GameStop Corp.", "23.10", 0.90),
)

_BY_SYMBOL: dict[str, SymbolInfo] = {info.symbol: info for info in UNIVERSE}
_COUNT = re.compile(r"[+-]?\d+")


def select_symbols(spec: str) -> list[SymbolInfo]:
    """Resolve a `MARKET_SYMBOLS` value.

    A number N takes the first N of `UNIVERSE`; otherwise a comma-separated list of tickers
    (case-insensitive, blanks and repeats ignored, order kept). Raises `ValueError` naming the
    problem for a count out of range, an unknown ticker or an empty list.
    """
    text = spec.strip()
    if _COUNT.fullmatch(text):
        count = int(text)
        if not 1 <= count <= len(UNIVERSE):
            raise ValueError(
                f"symbol count must be between 1 and {len(UNIVERSE)} (the size of the "
                f"universe), got {count}"
            )
        return list(UNIVERSE[:count])
    tickers = list(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    if not tickers:
        raise ValueError(
            f"no symbols in {spec!r}: expected a count such as '50' or tickers such as 'AAPL,MSFT'"
        )
    unknown = [t for t in tickers if t not in _BY_SYMBOL]
    if unknown:
        raise ValueError(
            f"unknown ticker{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"not in the {len(UNIVERSE)}-symbol universe (tradewire.market.symbols.UNIVERSE)"
        )
    return [_BY_SYMBOL[t] for t in tickers]


def symbol_info(symbol: str) -> SymbolInfo | None:
    """The universe entry for `symbol` (case-insensitive), or None."""
    return _BY_SYMBOL.get(symbol.strip().upper())


PRICE_TICK = Decimal("0.01")


def make_quote(
    symbol: str, *, bid: Decimal, ask: Decimal, last: Decimal, open: Decimal, seq: int, ts: int
) -> Quote:
    """A `Quote` with `change = last - open` and `change_pct = change / open * 100`, the
    percentage rounded half-up to 0.01. Every source builds its quotes here."""
    change = last - open
    change_pct = (change / open * 100).quantize(PRICE_TICK, rounding=ROUND_HALF_UP)
    return Quote(
        symbol=symbol,
        bid=bid,
        ask=ask,
        last=last,
        open=open,
        change=change,
        change_pct=change_pct,
        seq=seq,
        ts=ts,
    )
