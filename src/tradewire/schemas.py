"""Every payload tradewire sends or accepts, REST and Socket.IO alike.

Field names are camelCase on the wire. Money, prices and percentages are `Decimal` in Python and
decimal strings in JSON ("189.14"), so no float ever rounds a balance. Timestamps: `ts` fields are
epoch milliseconds (integers); `...At` fields are ISO 8601 UTC strings.

docs/WEBSOCKET.md and the dashboard's TypeScript types are checked against these models by the
test suite (`tests/test_contract.py`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
OrderStatus = Literal["open", "filled", "rejected", "cancelled"]
RejectReason = Literal[
    "INSUFFICIENT_CASH",
    "INSUFFICIENT_SHARES",
    "UNKNOWN_SYMBOL",
    "INVALID_QUANTITY",
    "INVALID_PRICE",
    "NO_QUOTE",
]
Ticker = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z.]{1,10}$")
]
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]

MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal("1000000")


class Schema(BaseModel):
    """Base: camelCase aliases on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict sent to clients (camelCase, decimals as strings)."""
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------- errors


class ErrorBody(Schema):
    code: str
    message: str


class ErrorResponse(Schema):
    error: ErrorBody


# ---------------------------------------------------------------- accounts


class Credentials(Schema):
    username: Username
    password: Password


class UserOut(Schema):
    user_id: int
    username: str
    role: Literal["user", "admin"] = "user"


class LoginOut(Schema):
    session_id: str
    user_id: int
    expires_at: datetime


# ---------------------------------------------------------------- market


class SymbolOut(Schema):
    symbol: str
    name: str


class Quote(Schema):
    """One quote. `seq` increases by one per tick of that symbol; `ts` is the server time in
    epoch milliseconds when the quote was made (clients compute delivery latency from it)."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    open: Decimal
    change: Decimal
    change_pct: Decimal
    seq: int
    ts: int


BarInterval = Literal["1m"]


class Bar(Schema):
    """One OHLC bar of `last` prices. `time` is the bar's start in UTC epoch seconds (the
    minute's first second); `volume` is how many ticks the bar holds."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class BarsOut(Schema):
    """`GET /api/quotes/{symbol}/bars`: the newest bars of one symbol, oldest first."""

    symbol: str
    interval: BarInterval
    bars: list[Bar]


# ---------------------------------------------------------------- trading


class OrderIn(Schema):
    """An order request. Well-formed but unacceptable values (quantity 0 or above
    `MAX_QUANTITY`, a limit price of 0 or with more than 2 decimals, an unknown symbol) are not
    refused here: the executor records the order as `rejected` with a reason code."""

    symbol: Ticker
    side: Side
    quantity: int = Field(ge=-(10**12), le=10**12)
    type: OrderType = "market"
    limit_price: Decimal | None = Field(
        default=None, allow_inf_nan=False, max_digits=20, decimal_places=8
    )


class OrderOut(Schema):
    order_id: int
    symbol: str
    side: Side
    type: OrderType
    quantity: int
    limit_price: Decimal | None
    status: OrderStatus
    reject_reason: RejectReason | None = None
    fill_price: Decimal | None = None
    created_at: datetime
    updated_at: datetime


class TradeOut(Schema):
    """A fill. Everything a toast and a trade page need."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    total: Decimal
    executed_at: datetime


class Position(Schema):
    symbol: str
    quantity: int
    avg_cost: Decimal
    last: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None


class Portfolio(Schema):
    user_id: int
    cash: Decimal
    positions: list[Position]
    positions_value: Decimal
    total_value: Decimal
    unrealized_pnl: Decimal
    as_of: datetime


class WatchlistIn(Schema):
    symbols: list[Ticker] = Field(max_length=50)


class WatchlistOut(Schema):
    symbols: list[str]


class ConfigOut(Schema):
    realtime_enabled: bool
    socket_path: str = "/socket.io"
    max_watchlist_symbols: int = 50


# ---------------------------------------------------------------- real-time events


class TradeFailed(Schema):
    """`trade:failed`: the order as recorded (status `rejected`) and why."""

    order: OrderOut
    reason: RejectReason
    message: str


class WatchlistSubscribe(Schema):
    """`subscribe:watchlist` / `unsubscribe:watchlist` payload."""

    symbols: list[Ticker] = Field(min_length=1, max_length=50)
    batch: bool = False


class QuoteBatch(Schema):
    """`quotes:update`: the latest quote per symbol since the last flush (batching clients)."""

    quotes: list[Quote]


class RateLimitedEvent(Schema):
    event: str
    retry_after_ms: int


class ShutdownNotice(Schema):
    """`server:shutdown`: the instance is going away; reconnect (possibly elsewhere)."""

    reconnect_after_ms: int
