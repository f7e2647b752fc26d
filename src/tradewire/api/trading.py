"""Orders, trades, portfolio and watchlist of the logged-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from sqlalchemy import delete, select

from tradewire.api.deps import ServicesDep, SessionDep
from tradewire.errors import UnknownSymbol
from tradewire.schemas import (
    MAX_EVENTS_PAGE,
    MAX_SEQ,
    ErrorResponse,
    OrderIn,
    OrderOut,
    OrderStatus,
    Portfolio,
    TradeOut,
    UserEventsPage,
    WatchlistIn,
    WatchlistOut,
)
from tradewire.storage.models import WatchlistEntry

router = APIRouter(prefix="/api", tags=["trading"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "CSRF_ORIGIN_MISMATCH (cookie writes)"},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/orders", status_code=201, response_model=OrderOut, responses=ERRORS)
async def place_order(
    body: OrderIn,
    session: SessionDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=128)] = None,
) -> OrderOut:
    """Place an order. The answer is the order as recorded: `filled`, `open` (a resting limit
    order) or `rejected` with `rejectReason` (not enough cash or shares, no quote). A request
    that is not a valid order (quantity, price, types, an unknown symbol) is 422 and records
    nothing. With `Idempotency-Key`, a retry with the same body returns the same order and
    never executes twice; the same key with a different body is 422
    `IDEMPOTENCY_KEY_REUSED`."""
    return await services.executor.place_order(session.user_id, body, idempotency_key)


@router.get("/orders", response_model=list[OrderOut], responses=ERRORS)
async def orders(
    session: SessionDep,
    services: ServicesDep,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OrderOut]:
    return await services.executor.orders(session.user_id, status, limit)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=ERRORS)
async def order(order_id: IdPath, session: SessionDep, services: ServicesDep) -> OrderOut:
    """One of the user's orders (another user's answers 404 `ORDER_NOT_FOUND`)."""
    return await services.executor.order(session.user_id, order_id)


@router.delete("/orders/{order_id}", response_model=OrderOut, responses=ERRORS)
async def cancel_order(order_id: IdPath, session: SessionDep, services: ServicesDep) -> OrderOut:
    return await services.executor.cancel_order(session.user_id, order_id)


@router.get("/portfolio", response_model=Portfolio, responses=ERRORS)
async def portfolio(session: SessionDep, services: ServicesDep) -> Portfolio:
    return await services.executor.portfolio(session.user_id)


@router.get("/trades", response_model=list[TradeOut], responses=ERRORS)
async def trades(
    session: SessionDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[TradeOut]:
    """The user's trades, newest first."""
    return await services.executor.trades(session.user_id, limit)


@router.get("/trades/{trade_id}", response_model=TradeOut, responses=ERRORS)
async def trade(trade_id: IdPath, session: SessionDep, services: ServicesDep) -> TradeOut:
    return await services.executor.trade(session.user_id, trade_id)


@router.get("/events", response_model=UserEventsPage, responses=ERRORS)
async def events(
    session: SessionDep,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
) -> UserEventsPage:
    """The user's own pushes (`trade:executed`, `trade:failed`, `portfolio:update`) with a
    `seq` above `after`, oldest first, at most `limit`: what a client that could not recover
    its socket missed (docs/WEBSOCKET.md, "Reconnecting"). `after` is at most 2^53 - 1 (the
    largest integer a JavaScript client holds exactly; asking with it answers no events and
    where the history stands)."""
    return await services.executor.events_after(session.user_id, after, limit)


@router.get("/watchlist", response_model=WatchlistOut, responses=ERRORS)
async def watchlist(session: SessionDep, services: ServicesDep) -> WatchlistOut:
    async with services.db.reader() as tx:
        rows = await tx.scalars(
            select(WatchlistEntry.symbol)
            .where(WatchlistEntry.user_id == session.user_id)
            .order_by(WatchlistEntry.position)
        )
        return WatchlistOut(symbols=list(rows))


@router.put("/watchlist", response_model=WatchlistOut, responses=ERRORS)
async def replace_watchlist(
    body: WatchlistIn, session: SessionDep, services: ServicesDep
) -> WatchlistOut:
    """Replace the watchlist (order kept, duplicates dropped, at most 50 known symbols)."""
    symbols = list(dict.fromkeys(body.symbols))
    unknown = [s for s in symbols if not services.feed.is_known(s)]
    if unknown:
        raise UnknownSymbol(f"Unknown symbol: {', '.join(unknown[:5])}.")
    async with services.db.transaction() as tx:
        await tx.execute(delete(WatchlistEntry).where(WatchlistEntry.user_id == session.user_id))
        tx.add_all(
            WatchlistEntry(user_id=session.user_id, symbol=s, position=i)
            for i, s in enumerate(symbols)
        )
    return WatchlistOut(symbols=symbols)
