"""Symbols and latest quotes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradewire.api.deps import ServicesDep
from tradewire.errors import UnknownSymbol, ValidationFailed
from tradewire.schemas import ErrorResponse, Quote, SymbolOut

router = APIRouter(prefix="/api", tags=["market"])

MAX_QUOTES_PER_REQUEST = 100


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
