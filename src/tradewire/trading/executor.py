"""The trade executor: turns orders into fills, one database transaction per fill.

Events (pyee), each called with `(user_id, payload)` after the transaction committed:
- `trade:executed`   -> `TradeOut`, when an order fills;
- `trade:failed`     -> `TradeFailed`, when an order is rejected (recorded with a reason code);
- `portfolio:updated`-> `Portfolio`, after every fill.

Guarantees:
- Cash never goes negative and a user never sells shares they do not hold, however many orders
  arrive at once: every fill locks the user's row first (`SELECT ... FOR UPDATE` on PostgreSQL,
  `BEGIN IMMEDIATE` on SQLite), so a user's fills are serialized by the database itself and hold
  across instances.
- An order fills at most once: a resting limit order moves from `open` to `filled` with a
  conditional UPDATE, so two matchers racing on the same quote cannot both fill it.
- An `Idempotency-Key` maps to exactly one order per user (a unique constraint); a retry returns
  the recorded order and executes nothing.

Market orders buy at the ask and sell at the bid. Limit orders fill at the quote when it crosses
the limit (buy: ask <= limit; sell: bid >= limit), immediately if it already does; they rest in
an in-memory book per symbol that each quote is checked against, with no database access on the
quote path unless something fills.

In a cluster every instance keeps the book (resting and closed orders are announced on the
instance bus, and the database is the authority it reloads from), but only the instance that
runs the market feed matches it (`matching`), so a resting order is matched by exactly one
instance; the conditional fill above makes a second attempt harmless anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tradewire import metrics
from tradewire.cluster.bus import Bus, MemoryBus
from tradewire.errors import Conflict, NotFound
from tradewire.market.cache import QuoteCache
from tradewire.schemas import (
    MAX_PRICE,
    MAX_QUANTITY,
    OrderIn,
    OrderOut,
    OrderStatus,
    Portfolio,
    Quote,
    RejectReason,
    TradeFailed,
    TradeOut,
)
from tradewire.storage.database import Database
from tradewire.storage.models import Holding, Order, Trade, User, utcnow
from tradewire.trading.portfolio import COST_PLACES, load_holdings, money, value_portfolio

log = logging.getLogger(__name__)

TRADE_EXECUTED = "trade:executed"
TRADE_FAILED = "trade:failed"
PORTFOLIO_UPDATED = "portfolio:updated"
ORDERS_CHANNEL = "orders"

REJECT_MESSAGES: dict[RejectReason, str] = {
    "INSUFFICIENT_CASH": "Not enough cash for this order.",
    "INSUFFICIENT_SHARES": "You do not hold enough shares to sell.",
    "UNKNOWN_SYMBOL": "That symbol is not traded here.",
    "INVALID_QUANTITY": f"Quantity must be a whole number from 1 to {MAX_QUANTITY:,}.",
    "INVALID_PRICE": "A limit order needs a limit price above zero with at most 2 decimals.",
    "NO_QUOTE": "No price is available for this symbol right now.",
}


class Rejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class RestingOrder:
    order_id: int
    user_id: int
    symbol: str
    side: str
    quantity: int
    limit_price: Decimal

    def crosses(self, quote: Quote) -> bool:
        if self.side == "buy":
            return quote.ask <= self.limit_price
        return quote.bid >= self.limit_price


def order_out(o: Order) -> OrderOut:
    return OrderOut(
        order_id=o.id,
        symbol=o.symbol,
        side=o.side,
        type=o.type,
        quantity=o.quantity,
        limit_price=money(o.limit_price) if o.limit_price is not None else None,
        status=o.status,
        reject_reason=o.reject_reason,
        fill_price=money(o.fill_price) if o.fill_price is not None else None,
        created_at=o.created_at,
        updated_at=o.updated_at,
    )


def trade_out(t: Trade) -> TradeOut:
    return TradeOut(
        trade_id=t.id,
        order_id=t.order_id,
        symbol=t.symbol,
        side=t.side,
        quantity=t.quantity,
        price=money(t.price),
        total=money(t.total),
        executed_at=t.executed_at,
    )


class TradeExecutor(AsyncIOEventEmitter):
    def __init__(
        self,
        db: Database,
        quotes: QuoteCache,
        is_known: Callable[[str], bool],
        bus: Bus | None = None,
    ) -> None:
        super().__init__()
        self._db = db
        self._quotes = quotes
        self._is_known = is_known
        self._bus: Bus = bus if bus is not None else MemoryBus()
        self._bus.subscribe(ORDERS_CHANNEL, self._on_book_message)
        self.matching = True
        """Whether this instance matches the book against quotes (the feed's instance)."""
        # book[symbol][order_id] = RestingOrder, the open limit orders this instance matches
        self._book: dict[str, dict[int, RestingOrder]] = defaultdict(dict)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    async def load_book(self) -> int:
        """Load open limit orders from the database (at start-up). Returns how many."""
        async with self._db.reader() as tx:
            rows = list(await tx.scalars(select(Order).where(Order.status == "open")))
        self._book.clear()
        for o in rows:
            self._add_to_book(o)
        return len(rows)

    def on_quote(self, quote: Quote) -> None:
        """Feed listener: fill the resting orders this quote crosses (in background tasks)."""
        book = self._book.get(quote.symbol)
        if not book or not self.matching:
            return
        for order in [o for o in book.values() if o.crosses(quote)]:
            del book[order.order_id]
            self._spawn(self._fill_resting(order, quote))

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for fills in progress (graceful shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ orders

    async def place_order(
        self, user_id: int, req: OrderIn, idempotency_key: str | None = None
    ) -> OrderOut:
        """Record and execute an order. Returns it as recorded (filled, open or rejected)."""
        metrics.mark_order_received()
        if idempotency_key is not None:
            existing = await self._by_idempotency_key(user_id, idempotency_key)
            if existing is not None:
                return order_out(existing)
        try:
            out = await self._execute_new(user_id, req, idempotency_key)
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = await self._by_idempotency_key(user_id, idempotency_key)
            if existing is None:  # pragma: no cover - the constraint that failed names it
                raise
            return order_out(existing)
        metrics.ORDERS.labels(status=out.status).inc()
        return out

    async def _execute_new(self, user_id: int, req: OrderIn, key: str | None) -> OrderOut:
        try:
            price = await self._validate(req)
        except Rejected as exc:
            return await self._record_rejected(user_id, req, key, exc.reason)
        now = utcnow()
        order = Order(
            user_id=user_id,
            idempotency_key=key,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            quantity=req.quantity,
            limit_price=req.limit_price if req.type == "limit" else None,
            status="open",
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.transaction() as tx:
                user = await _lock_user(tx, user_id)
                tx.add(order)
                await tx.flush()
                if price is None:  # a limit order that does not cross yet: it rests
                    assert req.limit_price is not None
                    if req.side == "buy" and user.cash < req.limit_price * req.quantity:
                        raise Rejected("INSUFFICIENT_CASH")
                    if req.side == "sell":
                        await _require_shares(tx, user_id, req.symbol, req.quantity)
                    trade = None
                else:
                    trade = await _fill(tx, user, order, price)
        except Rejected as exc:
            return await self._record_rejected(user_id, req, key, exc.reason)
        if trade is None:
            await self._rest(order)
            log.info(
                "order resting",
                extra={"user_id": user_id, "order_id": order.id, "symbol": order.symbol},
            )
            return order_out(order)
        await self._announce_fill(user_id, trade)
        return order_out(order)

    async def _validate(self, req: OrderIn) -> Decimal | None:
        """The fill price if the order executes now, None for a limit order that will rest."""
        if not self._is_known(req.symbol):
            raise Rejected("UNKNOWN_SYMBOL")
        if not 1 <= req.quantity <= MAX_QUANTITY:
            raise Rejected("INVALID_QUANTITY")
        if req.type == "limit":
            lp = req.limit_price
            if lp is None or lp <= 0 or lp > MAX_PRICE or lp != lp.quantize(Decimal("0.01")):
                raise Rejected("INVALID_PRICE")
        quote = await self._quotes.latest(req.symbol)
        if quote is None:
            raise Rejected("NO_QUOTE")
        price = quote.ask if req.side == "buy" else quote.bid
        if req.type == "limit":
            assert req.limit_price is not None
            crosses = price <= req.limit_price if req.side == "buy" else price >= req.limit_price
            return price if crosses else None
        return price

    async def _record_rejected(
        self, user_id: int, req: OrderIn, key: str | None, reason: RejectReason
    ) -> OrderOut:
        now = utcnow()
        order = Order(
            user_id=user_id,
            idempotency_key=key,
            symbol=req.symbol[:16],
            side=req.side,
            type=req.type,
            quantity=req.quantity,
            limit_price=req.limit_price if req.type == "limit" else None,
            status="rejected",
            reject_reason=reason,
            created_at=now,
            updated_at=now,
        )
        async with self._db.transaction() as tx:
            tx.add(order)
        out = order_out(order)
        log.info(
            "order rejected", extra={"user_id": user_id, "order_id": order.id, "reason": reason}
        )
        self.emit(
            TRADE_FAILED,
            user_id,
            TradeFailed(order=out, reason=reason, message=REJECT_MESSAGES[reason]),
        )
        return out

    async def _fill_resting(self, resting: RestingOrder, quote: Quote) -> None:
        price = quote.ask if resting.side == "buy" else quote.bid
        try:
            async with self._db.transaction() as tx:
                user = await _lock_user(tx, resting.user_id)
                order = await tx.get(Order, resting.order_id)
                if order is None or order.status != "open":
                    return  # cancelled or filled elsewhere meanwhile
                trade = await _fill(tx, user, order, price)
        except Rejected as exc:
            await self._reject_open(resting, exc.reason)
            return
        except Exception:
            log.exception(
                "limit fill failed; order stays open",
                extra={"order_id": resting.order_id, "user_id": resting.user_id},
            )
            self._book[resting.symbol][resting.order_id] = resting
            return
        await self._closed(resting.order_id, resting.symbol)
        await self._announce_fill(resting.user_id, trade)

    async def _reject_open(self, resting: RestingOrder, reason: RejectReason) -> None:
        async with self._db.transaction() as tx:
            result = await tx.execute(
                update(Order)
                .where(Order.id == resting.order_id, Order.status == "open")
                .values(status="rejected", reject_reason=reason, updated_at=utcnow())
            )
            order = await tx.get(Order, resting.order_id)
        await self._closed(resting.order_id, resting.symbol)
        if result.rowcount != 1 or order is None:  # type: ignore[attr-defined]
            return
        self.emit(
            TRADE_FAILED,
            resting.user_id,
            TradeFailed(order=order_out(order), reason=reason, message=REJECT_MESSAGES[reason]),
        )

    async def cancel_order(self, user_id: int, order_id: int) -> OrderOut:
        async with self._db.transaction() as tx:
            order = await tx.get(Order, order_id)
            if order is None or order.user_id != user_id:
                raise NotFound("No such order.", code="ORDER_NOT_FOUND")
            if order.status != "open":
                raise Conflict(f"The order is already {order.status}.", code="ORDER_NOT_OPEN")
            order.status = "cancelled"
            order.updated_at = utcnow()
        await self._closed(order.id, order.symbol)
        log.info("order cancelled", extra={"user_id": user_id, "order_id": order_id})
        return order_out(order)

    # ------------------------------------------------------------ the book, cluster-wide

    def _add_to_book(self, order: Order) -> None:
        assert order.limit_price is not None
        self._book[order.symbol][order.id] = RestingOrder(
            order.id, order.user_id, order.symbol, order.side, order.quantity, order.limit_price
        )

    async def _rest(self, order: Order) -> None:
        self._add_to_book(order)
        await self._announce_book(
            {"op": "rest", "orderId": order.id, "userId": order.user_id, "symbol": order.symbol,
             "side": order.side, "quantity": order.quantity, "limitPrice": str(order.limit_price)}
        )  # fmt: skip

    async def _closed(self, order_id: int, symbol: str) -> None:
        self._book.get(symbol, {}).pop(order_id, None)
        await self._announce_book({"op": "close", "orderId": order_id, "symbol": symbol})

    async def _announce_book(self, message: dict[str, object]) -> None:
        try:
            await self._bus.publish(ORDERS_CHANNEL, message)
        except Exception as exc:  # the matching instance reloads the book from the database
            log.warning("book change not announced", extra={"error": repr(exc), **message})

    def _on_book_message(self, message: dict[str, Any]) -> None:
        """A book change announced by any instance (this one included)."""
        try:
            if message["op"] == "rest":
                order = RestingOrder(
                    int(message["orderId"]), int(message["userId"]), str(message["symbol"]),
                    str(message["side"]), int(message["quantity"]), Decimal(message["limitPrice"]),
                )  # fmt: skip
                self._book[order.symbol][order.order_id] = order
            elif message["op"] == "close":
                self._book.get(message["symbol"], {}).pop(message["orderId"], None)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            log.warning("malformed book message dropped")

    async def _announce_fill(self, user_id: int, trade: Trade) -> None:
        out = trade_out(trade)
        log.info(
            "trade executed",
            extra={
                "user_id": user_id,
                "order_id": trade.order_id,
                "trade_id": trade.id,
                "symbol": trade.symbol,
            },
        )
        self.emit(TRADE_EXECUTED, user_id, out)
        self.emit(PORTFOLIO_UPDATED, user_id, await self.portfolio(user_id))

    async def _by_idempotency_key(self, user_id: int, key: str) -> Order | None:
        async with self._db.reader() as tx:
            found: Order | None = await tx.scalar(
                select(Order).where(Order.user_id == user_id, Order.idempotency_key == key)
            )
            return found

    # ------------------------------------------------------------ reads

    async def portfolio(self, user_id: int) -> Portfolio:
        async with self._db.reader() as tx:
            user, holdings = await load_holdings(tx, user_id)
        quotes = await self._quotes.latest_many(h.symbol for h in holdings)
        return value_portfolio(user, holdings, quotes)

    async def orders(
        self, user_id: int, status: OrderStatus | None = None, limit: int = 100
    ) -> list[OrderOut]:
        query = select(Order).where(Order.user_id == user_id)
        if status is not None:
            query = query.where(Order.status == status)
        async with self._db.reader() as tx:
            rows = await tx.scalars(query.order_by(Order.id.desc()).limit(limit))
            return [order_out(o) for o in rows]

    async def trades(self, user_id: int, limit: int = 50) -> list[TradeOut]:
        async with self._db.reader() as tx:
            rows = await tx.scalars(
                select(Trade).where(Trade.user_id == user_id).order_by(Trade.id.desc()).limit(limit)
            )
            return [trade_out(t) for t in rows]

    async def trade(self, user_id: int, trade_id: int) -> TradeOut:
        async with self._db.reader() as tx:
            t = await tx.get(Trade, trade_id)
        if t is None or t.user_id != user_id:
            raise NotFound("No such trade.", code="TRADE_NOT_FOUND")
        return trade_out(t)


# ---------------------------------------------------------------- inside a transaction


async def _lock_user(tx: AsyncSession, user_id: int) -> User:
    user = await tx.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("No such user.")
    return user


async def _require_shares(tx: AsyncSession, user_id: int, symbol: str, quantity: int) -> Holding:
    holding = await tx.get(Holding, (user_id, symbol))
    if holding is None or holding.quantity < quantity:
        raise Rejected("INSUFFICIENT_SHARES")
    return holding


async def _fill(tx: AsyncSession, user: User, order: Order, price: Decimal) -> Trade:
    """Move cash and shares for `order` at `price`. The caller holds the user's row lock."""
    total = money(price * order.quantity)
    if order.side == "buy":
        if user.cash < total:
            raise Rejected("INSUFFICIENT_CASH")
        user.cash -= total
        holding = await tx.get(Holding, (user.id, order.symbol))
        if holding is None:
            tx.add(
                Holding(
                    user_id=user.id, symbol=order.symbol, quantity=order.quantity, avg_cost=price
                )
            )
        else:
            held = holding.quantity + order.quantity
            holding.avg_cost = ((holding.avg_cost * holding.quantity + total) / held).quantize(
                COST_PLACES
            )
            holding.quantity = held
    else:
        holding = await _require_shares(tx, user.id, order.symbol, order.quantity)
        user.cash += total
        holding.quantity -= order.quantity
        if holding.quantity == 0:
            await tx.delete(holding)
    now = utcnow()
    order.status, order.fill_price, order.updated_at = "filled", price, now
    trade = Trade(
        order_id=order.id,
        user_id=user.id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        price=price,
        total=total,
        executed_at=now,
    )
    tx.add(trade)
    await tx.flush()
    return trade
