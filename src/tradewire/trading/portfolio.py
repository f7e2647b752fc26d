"""Portfolio snapshots: cash and positions valued at the latest quotes."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewire.errors import NotFound
from tradewire.schemas import Portfolio, Position, Quote
from tradewire.storage.models import Holding, User, utcnow

CENT = Decimal("0.01")
COST_PLACES = Decimal("0.0001")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def load_holdings(tx: Session, *, user_id: int) -> tuple[User, list[Holding]]:
    """The user's row and holdings, by symbol (a unit of work for `Database.read`)."""
    user = tx.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    holdings = list(
        tx.scalars(select(Holding).where(Holding.user_id == user_id).order_by(Holding.symbol))
    )
    return user, holdings


def value_portfolio(user: User, holdings: list[Holding], quotes: dict[str, Quote]) -> Portfolio:
    """Value every position at its latest `last` price; a symbol without a quote has no value."""
    positions = []
    positions_value = Decimal(0)
    unrealized = Decimal(0)
    for h in holdings:
        quote = quotes.get(h.symbol)
        if quote is None:
            positions.append(
                Position(
                    symbol=h.symbol,
                    quantity=h.quantity,
                    avg_cost=h.avg_cost.quantize(COST_PLACES),
                    last=None,
                    market_value=None,
                    unrealized_pnl=None,
                )
            )
            continue
        value = quote.last * h.quantity
        pnl = (quote.last - h.avg_cost) * h.quantity
        positions_value += value
        unrealized += pnl
        positions.append(
            Position(
                symbol=h.symbol,
                quantity=h.quantity,
                avg_cost=h.avg_cost.quantize(COST_PLACES),
                last=quote.last,
                market_value=money(value),
                unrealized_pnl=money(pnl),
            )
        )
    return Portfolio(
        user_id=user.id,
        cash=money(user.cash),
        positions=positions,
        positions_value=money(positions_value),
        total_value=money(user.cash + positions_value),
        unrealized_pnl=money(unrealized),
        as_of=utcnow(),
    )
