"""Symbols and latest quotes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tradewire.api.deps import ServicesDep
from tradewire.errors import UnknownSymbol, ValidationFailed
from tradewire.market.bars import MAX_BARS
from tradewire.schemas import BarInterval, BarsOut, ErrorResponse, Quote, SymbolOut

router = APIRouter(prefix="/api", tags=["market"])

MAX_QUOTES_PER_REQUEST = 100
DEFAULT_BARS = 120


@router.get("/symbols", response_model=list[SymbolOut])
async def symbols(services: ServicesDep) -> list[SymbolOut]:
    return [SymbolOut(symbol=s.symbol, name=s.name) for s in services.feed.symbols]


@router.get("/quotes", response_model=list[Quote], responses={422: {"model": ErrorResponse}})
async def quotes(
    services: ServicesDep, symbols: Annotated[str | None, Query(max_length=1100)] = None
) -> list[Quote]:
    """Latest quotes: of `symbols` (comma-separated, at most 100) or of every symbol."""
    if symbols is None:
        return sorted(await services.quotes.all(), key=lambda q: q.symbol)
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols.split(",") if s.strip()))
    if not wanted or len(wanted) > MAX_QUOTES_PER_REQUEST:
        raise ValidationFailed(f"Ask for 1 to {MAX_QUOTES_PER_REQUEST} symbols.")
    unknown = [s for s in wanted if not services.feed.is_known(s)]
    if unknown:
        raise UnknownSymbol(f"Unknown symbol: {', '.join(unknown[:5])[:60]}.")
    found = await services.quotes.latest_many(wanted)
    return [found[s] for s in wanted if s in found]


@router.get(
    "/quotes/{symbol}/bars",
    response_model=BarsOut,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def bars(
    services: ServicesDep,
    symbol: Annotated[str, Path(min_length=1, max_length=16)],
    interval: BarInterval = "1m",
    limit: Annotated[int, Query(ge=1, le=MAX_BARS)] = DEFAULT_BARS,
) -> BarsOut:
    """The newest `limit` (1 to 480, default 120) one-minute bars of `symbol`, oldest first;
    `time` is the bar's start in UTC epoch seconds. Only `interval=1m` exists (anything else:
    422 VALIDATION_ERROR). A symbol not traded here: 404 UNKNOWN_SYMBOL. Minutes without ticks
    have no bar; a service without Redis starts with none."""
    wanted = symbol.strip().upper()
    if not services.feed.is_known(wanted):
        raise UnknownSymbol(f"Unknown symbol: {wanted[:16]}.", status=404)
    return BarsOut(symbol=wanted, interval=interval, bars=await services.bars.recent(wanted, limit))
