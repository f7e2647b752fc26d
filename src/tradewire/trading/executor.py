"""The trade executor: turns orders into fills, one database transaction per order.

Events (pyee), each called with `(user_id, payload)` after the transaction committed:
- `trade:executed`   -> `TradeExecuted`, when an order fills;
- `trade:failed`     -> `TradeFailedEvent`, when an order is rejected (recorded with a reason code);
- `portfolio:updated`-> `PortfolioUpdate`, after every fill.
Each payload was written to the user's outbox (`storage/outbox.py`) in the order's own
transaction, with its `seq` and `epoch`: what is emitted is what was stored, so a push lost
to a crash after the commit is still in the outbox (`GET /api/events`). The portfolio is
valued inside the transaction at the quotes read just before it.

Guarantees:
- Cash never goes negative and a user never sells shares they do not hold, however many orders
  arrive at once: every order's transaction locks the user's row first (`SELECT ... FOR UPDATE`
  on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), then checks, records and fills, so a user's
  orders are serialized by the database itself and hold across instances.
- An order fills at most once: a resting order is re-read under that lock and fills only if it
  is still `open`, so two matchers racing on the same quote cannot both fill it, and a cancel
  (which takes the same lock) cannot overwrite a fill.
- An `Idempotency-Key` maps to exactly one order per user (a unique constraint, and the lookup
  under the lock); a retry with the same request returns the recorded order and executes
  nothing; a retry with a different request (told apart by the SHA-256 of its canonical form,
  `order_fingerprint`) is refused with `IdempotencyKeyReused` and executes nothing either.
- A request that cannot be an order never becomes one: `OrderIn` refuses bad quantities and
  prices, and a symbol not traded here raises `UnknownSymbol`, both before anything is
  recorded. Only what the account or the market refuses (cash, shares, no quote) is recorded
  as a `rejected` order with a `trade:failed` push.
- Each transaction is one synchronous unit of work (`Database.run`): a single trip to the
  database's thread on SQLite, whatever the number of statements.

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
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import orjson
from pyee.asyncio import AsyncIOEventEmitter
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewire import metrics
from tradewire.cluster.bus import Bus, MemoryBus
from tradewire.errors import Conflict, IdempotencyKeyReused, NotFound, UnknownSymbol
from tradewire.market.cache import QuoteCache
from tradewire.schemas import (
    MAX_QUANTITY,
    OrderIn,
    OrderOut,
    OrderStatus,
    Portfolio,
    PortfolioUpdate,
    Quote,
    RejectReason,
    TradeExecuted,
    TradeFailedEvent,
    TradeOut,
    UserEventFields,
    UserEventOut,
    UserEventsPage,
)
from tradewire.storage import outbox
from tradewire.storage.database import Database
from tradewire.storage.models import Holding, Order, Trade, User, utcnow
from tradewire.trading.portfolio import COST_PLACES, load_holdings, money, value_portfolio

log = logging.getLogger(__name__)

T = TypeVar("T")

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


def order_fingerprint(req: OrderIn) -> str:
    """SHA-256 (hex) of the order request in a canonical form: the validated fields (symbol
    upper-cased, defaults filled in, the limit price normalised so `"189.10"` and `189.1` are
    one price), as JSON with sorted keys. Same fingerprint: the same order."""
    price = req.limit_price
    canonical = {
        "symbol": req.symbol,
        "side": req.side,
        "type": req.type,
        "quantity": req.quantity,
        "limitPrice": None if price is None else format(price.normalize(), "f"),
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


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
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lifecycle

    async def load_book(self) -> int:
        """Load open limit orders from the database (at start-up). Returns how many."""
        rows = await self._db.read(_open_orders)
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
        """Wait for orders and fills in progress (graceful shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ orders

    async def place_order(
        self, user_id: int, req: OrderIn, idempotency_key: str | None = None
    ) -> OrderOut:
        """Record and execute an order. Returns it as recorded (filled, open or rejected).

        The order is recorded, checked against cash and shares and filled in one transaction
        that holds the user's row lock; a retry with the same `idempotency_key` finds the
        recorded order under that lock and returns it unchanged. Once started, an order runs
        to its end (pushes sent, a resting order in the book) even if the caller is cancelled:
        its transaction commits on the database's thread either way."""
        return await asyncio.shield(self._spawn(self._place_order(user_id, req, idempotency_key)))

    async def _place_order(self, user_id: int, req: OrderIn, key: str | None) -> OrderOut:
        metrics.mark_order_received()
        if not self._is_known(req.symbol):
            raise UnknownSymbol(f"Unknown symbol: {req.symbol}.")
        try:
            price, reason = await self._price(req), None
        except Rejected as exc:
            price, reason = None, exc.reason
        fingerprint = order_fingerprint(req) if key is not None else None
        quotes = await self._quote_map() if price is not None else {}
        placed = await self._db.run(
            partial(
                _place,
                user_id=user_id,
                req=req,
                key=key,
                fingerprint=fingerprint,
                price=price,
                reason=reason,
                quotes=quotes,
            )
        )
        order = placed.order
        if placed.replayed:
            return order_out(order)
        metrics.ORDERS.labels(status=order.status).inc()
        if order.status == "rejected":
            self._announce_rejection(placed)
        elif placed.trade is not None:
            self._announce_fill(placed)
        else:
            await self._rest(order)
            log.info(
                "order resting",
                extra={"user_id": user_id, "order_id": order.id, "symbol": order.symbol},
            )
        return order_out(order)

    async def _price(self, req: OrderIn) -> Decimal | None:
        """The fill price if the order executes now, None for a limit order that will rest.
        `req` is valid (OrderIn) and its symbol traded here."""
        quote = await self._quotes.latest(req.symbol)
        if quote is None:
            raise Rejected("NO_QUOTE")
        price = quote.ask if req.side == "buy" else quote.bid
        if req.type == "limit":
            assert req.limit_price is not None
            crosses = price <= req.limit_price if req.side == "buy" else price >= req.limit_price
            return price if crosses else None
        return price

    async def _quote_map(self) -> dict[str, Quote]:
        """Every latest quote, to value the portfolio inside a fill's transaction."""
        return {q.symbol: q for q in await self._quotes.all()}

    def _announce_rejection(self, placed: Placed) -> None:
        order = placed.order
        log.info(
            "order rejected",
            extra={"user_id": order.user_id, "order_id": order.id, "reason": order.reject_reason},
        )
        self._emit_events(order.user_id, placed.events)

    def _emit_events(self, user_id: int, events: list[UserEventFields]) -> None:
        """The events the transaction stored in the outbox, in `seq` order."""
        for payload in events:
            if isinstance(payload, TradeExecuted):
                self.emit(TRADE_EXECUTED, user_id, payload)
            elif isinstance(payload, TradeFailedEvent):
                self.emit(TRADE_FAILED, user_id, payload)
            elif isinstance(payload, PortfolioUpdate):
                self.emit(PORTFOLIO_UPDATED, user_id, payload)

    async def _fill_resting(self, resting: RestingOrder, quote: Quote) -> None:
        price = quote.ask if resting.side == "buy" else quote.bid
        try:
            quotes = await self._quote_map()
            placed = await self._db.run(
                partial(_fill_open, resting=resting, price=price, quotes=quotes)
            )
        except Exception:
            log.exception(
                "limit fill failed; order stays open",
                extra={"order_id": resting.order_id, "user_id": resting.user_id},
            )
            self._book[resting.symbol][resting.order_id] = resting
            return
        await self._closed(resting.order_id, resting.symbol)
        if placed is None:
            return  # cancelled or filled elsewhere meanwhile
        if placed.trade is not None:
            self._announce_fill(placed)
        else:
            self._announce_rejection(placed)

    async def cancel_order(self, user_id: int, order_id: int) -> OrderOut:
        order = await self._db.run(partial(_cancel, user_id=user_id, order_id=order_id))
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

    def _announce_fill(self, placed: Placed) -> None:
        trade, user_id = placed.trade, placed.order.user_id
        assert trade is not None
        log.info(
            "trade executed",
            extra={
                "user_id": user_id,
                "order_id": trade.order_id,
                "trade_id": trade.id,
                "symbol": trade.symbol,
            },
        )
        self._emit_events(user_id, placed.events)

    # ------------------------------------------------------------ reads

    async def portfolio(self, user_id: int) -> Portfolio:
        user, holdings = await self._db.read(partial(load_holdings, user_id=user_id))
        quotes = await self._quotes.latest_many(h.symbol for h in holdings)
        return value_portfolio(user, holdings, quotes)

    async def orders(
        self, user_id: int, status: OrderStatus | None = None, limit: int = 100
    ) -> list[OrderOut]:
        query = select(Order).where(Order.user_id == user_id)
        if status is not None:
            query = query.where(Order.status == status)
        query = query.order_by(Order.id.desc()).limit(limit)
        rows = await self._db.read(lambda tx: list(tx.scalars(query)))
        return [order_out(o) for o in rows]

    async def order(self, user_id: int, order_id: int) -> OrderOut:
        """One of the user's orders; another user's is `ORDER_NOT_FOUND`, like a missing one."""
        o = await self._db.read(lambda tx: tx.get(Order, order_id))
        if o is None or o.user_id != user_id:
            raise NotFound("No such order.", code="ORDER_NOT_FOUND")
        return order_out(o)

    async def trades(self, user_id: int, limit: int = 50) -> list[TradeOut]:
        query = select(Trade).where(Trade.user_id == user_id).order_by(Trade.id.desc()).limit(limit)
        rows = await self._db.read(lambda tx: list(tx.scalars(query)))
        return [trade_out(t) for t in rows]

    async def events_after(self, user_id: int, seq: int, limit: int) -> UserEventsPage:
        """The user's outbox after `seq`, oldest first: at most `limit` events."""
        return await self._db.read(partial(_events_page, user_id=user_id, seq=seq, limit=limit))

    async def event_head(self, user_id: int) -> tuple[str, int] | None:
        """`(epoch, last seq)` of the user's events; None before the first one."""
        current = await self._db.read(partial(outbox.head, user_id=user_id))
        return None if current is None else (current.epoch, current.last_seq)

    async def prune_events(self, max_age: float, keep: int) -> int:
        """Delete outbox events older than `max_age` seconds, and each user's beyond `keep`."""
        older_than = utcnow() - timedelta(seconds=max_age)
        return await self._db.run(partial(outbox.prune, older_than=older_than, keep=keep))

    async def trade(self, user_id: int, trade_id: int) -> TradeOut:
        t = await self._db.read(lambda tx: tx.get(Trade, trade_id))
        if t is None or t.user_id != user_id:
            raise NotFound("No such trade.", code="TRADE_NOT_FOUND")
        return trade_out(t)


# ---------------------------------------------------------------- inside a transaction
# Synchronous units of work for `Database.run` / `Database.read`: each is one transaction.


@dataclass(slots=True)
class Placed:
    """What an order's transaction left: the order as recorded and, when it filled, the trade
    and the user's cash and holdings right after it (for the portfolio push)."""

    order: Order
    trade: Trade | None = None
    user: User | None = None
    holdings: list[Holding] = field(default_factory=list)
    events: list[UserEventFields] = field(default_factory=list)
    """What the transaction wrote to the user's outbox, in `seq` order."""
    replayed: bool = False
    """An `Idempotency-Key` retry: the order was recorded before, nothing was done now."""


def _place(
    tx: Session,
    *,
    user_id: int,
    req: OrderIn,
    key: str | None,
    fingerprint: str | None,
    price: Decimal | None,
    reason: RejectReason | None,
    quotes: dict[str, Quote],
) -> Placed:
    """Record a new order: rejected with `reason`, filled at `price`, or resting (no price).
    With `key`: the order already recorded under it, when `fingerprint` matches its request."""
    user = _lock_user(tx, user_id)
    if key is not None and (existing := _order_by_key(tx, user_id=user_id, key=key)) is not None:
        if existing.idempotency_hash not in (None, fingerprint):
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different order; "
                "use a new key for a new order."
            )
        return Placed(existing, replayed=True)
    now = utcnow()
    order = Order(
        user_id=user_id,
        idempotency_key=key,
        idempotency_hash=fingerprint,
        symbol=req.symbol[:16],
        side=req.side,
        type=req.type,
        quantity=req.quantity,
        limit_price=req.limit_price if req.type == "limit" else None,
        status="open",
        created_at=now,
        updated_at=now,
    )
    if reason is None:
        reserve = price if price is not None else req.limit_price
        assert reserve is not None
        reason = _shortfall(tx, user, order.symbol, order.side, order.quantity, reserve)
    if reason is not None:
        order.status, order.reject_reason = "rejected", reason
    tx.add(order)
    tx.flush()
    if reason is not None:
        return _rejected(tx, order, reason)
    if price is None:
        return Placed(order)
    return _fill(tx, user, order, price, quotes)


def _fill_open(
    tx: Session, *, resting: RestingOrder, price: Decimal, quotes: dict[str, Quote]
) -> Placed | None:
    """Fill a resting order at `price`, or reject it when cash or shares no longer cover it.
    None when it is no longer open (cancelled, or filled by another instance)."""
    user = _lock_user(tx, resting.user_id)
    order = tx.get(Order, resting.order_id)
    if order is None or order.status != "open":
        return None
    reason = _shortfall(tx, user, order.symbol, order.side, order.quantity, price)
    if reason is not None:
        order.status, order.reject_reason, order.updated_at = "rejected", reason, utcnow()
        tx.flush()
        return _rejected(tx, order, reason)
    return _fill(tx, user, order, price, quotes)


def _rejected(tx: Session, order: Order, reason: RejectReason) -> Placed:
    """The rejection's `trade:failed`, into the outbox. The caller holds the user's lock."""
    out, message = order_out(order), REJECT_MESSAGES[reason]
    failed = outbox.append(
        tx,
        order.user_id,
        "trade:failed",
        lambda seq, epoch: TradeFailedEvent(
            order=out, reason=reason, message=message, seq=seq, epoch=epoch
        ),
    )
    return Placed(order, events=[failed])


def _events_page(tx: Session, *, user_id: int, seq: int, limit: int) -> UserEventsPage:
    rows, oldest = outbox.after(tx, user_id, seq, limit + 1)
    current = outbox.head(tx, user_id)
    events = [
        UserEventOut.model_validate(
            {
                "event": row.event,
                "seq": row.seq,
                "epoch": current.epoch if current is not None else "",
                "data": orjson.loads(row.payload),
                "createdAt": row.created_at,
            }
        )
        for row in rows[:limit]
    ]
    return UserEventsPage(
        epoch=current.epoch if current is not None else "",
        events=events,
        has_more=len(rows) > limit,
        oldest_seq=oldest,
        last_seq=current.last_seq if current is not None else 0,
    )


def _cancel(tx: Session, *, user_id: int, order_id: int) -> Order:
    _lock_user(tx, user_id)  # so a fill of this order on another instance cannot interleave
    order = tx.get(Order, order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("No such order.", code="ORDER_NOT_FOUND")
    if order.status != "open":
        raise Conflict(f"The order is already {order.status}.", code="ORDER_NOT_OPEN")
    order.status = "cancelled"
    order.updated_at = utcnow()
    return order


def _open_orders(tx: Session) -> list[Order]:
    return list(tx.scalars(select(Order).where(Order.status == "open")))


def _order_by_key(tx: Session, *, user_id: int, key: str) -> Order | None:
    return tx.scalar(select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))


def _lock_user(tx: Session, user_id: int) -> User:
    user = tx.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("No such user.")
    return user


def _shortfall(
    tx: Session, user: User, symbol: str, side: str, quantity: int, price: Decimal
) -> RejectReason | None:
    """Why `user` cannot trade `quantity` of `symbol` at `price`, if they cannot."""
    if side == "buy":
        return "INSUFFICIENT_CASH" if user.cash < money(price * quantity) else None
    holding = tx.get(Holding, (user.id, symbol))
    return "INSUFFICIENT_SHARES" if holding is None or holding.quantity < quantity else None


def _fill(
    tx: Session, user: User, order: Order, price: Decimal, quotes: dict[str, Quote]
) -> Placed:
    """Move cash and shares for `order` at `price`. The caller holds the user's row lock and
    checked the order with `_shortfall`."""
    total = money(price * order.quantity)
    holding = tx.get(Holding, (user.id, order.symbol))
    if order.side == "buy":
        user.cash -= total
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
        assert holding is not None and holding.quantity >= order.quantity
        user.cash += total
        holding.quantity -= order.quantity
        if holding.quantity == 0:
            tx.delete(holding)
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
    tx.flush()
    _, holdings = load_holdings(tx, user_id=user.id)
    # the fill and the portfolio it left, into the outbox with the fill itself
    filled = trade_out(trade)
    executed = outbox.append(
        tx,
        user.id,
        "trade:executed",
        lambda seq, epoch: TradeExecuted(**dict(filled), seq=seq, epoch=epoch),
    )
    portfolio = value_portfolio(user, holdings, quotes)
    updated = outbox.append(
        tx,
        user.id,
        "portfolio:update",
        lambda seq, epoch: PortfolioUpdate(**dict(portfolio), seq=seq, epoch=epoch),
    )
    return Placed(order, trade, user, holdings, events=[executed, updated])
