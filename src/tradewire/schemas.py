"""Every payload tradewire sends or accepts, REST and Socket.IO alike.

Field names are camelCase on the wire. Money, prices and percentages are `Decimal` in Python and
decimal strings in JSON ("189.14"), so no float ever rounds a balance. Timestamps: `ts` fields are
epoch milliseconds (integers); `...At` fields are ISO 8601 UTC strings.

The dashboard's TypeScript types are generated from these models (`make contract`: the REST
API's OpenAPI document, and the Socket.IO events below as JSON Schema), and the examples in
docs/WEBSOCKET.md are validated against them; `tests/test_contract.py` fails when either
drifts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)
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

    # json_schema_serialization_defaults_required: an output model's fields with a default are
    # always in its JSON, so its (serialization) JSON Schema lists them as required
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_serialization_defaults_required=True,
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict sent to clients (camelCase, decimals as strings)."""
        return self.model_dump(mode="json", by_alias=True)


class InputSchema(Schema):
    """Base of every payload a client sends (REST bodies, Socket.IO event payloads): strict
    types, so `true` is not a quantity, `"5"` is not a number and `"yes"` is not a boolean.
    The one exception is money: a `Decimal` field takes a decimal string (`"189.14"`, as the
    service writes money) or a JSON number, never a boolean, NaN or an infinity."""

    model_config = ConfigDict(strict=True)


# ---------------------------------------------------------------- errors


class ErrorBody(Schema):
    code: str
    message: str


class ErrorResponse(Schema):
    error: ErrorBody


# ---------------------------------------------------------------- accounts


class Credentials(InputSchema):
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


Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
LimitPrice = Annotated[
    Decimal,
    Field(strict=False, gt=0, le=MAX_PRICE, decimal_places=2, allow_inf_nan=False),
]


class OrderIn(InputSchema):
    """An order request. What cannot be an order is refused (422 `VALIDATION_ERROR`, nothing
    recorded): a quantity that is not a whole JSON number from 1 to `MAX_QUANTITY`, a limit
    price that is not above 0 and at most `MAX_PRICE` with at most 2 decimals (a decimal
    string or a JSON number), a limit order without a limit price, a market order with one.
    A symbol not traded here is refused too (422 `UNKNOWN_SYMBOL`, by the executor). What the
    account cannot afford is an order: recorded `rejected` with a reason code."""

    symbol: Ticker
    side: Side
    quantity: Quantity
    type: OrderType = "market"
    limit_price: LimitPrice | None = None

    @model_validator(mode="after")
    def _price_matches_type(self) -> OrderIn:
        if self.type == "limit" and self.limit_price is None:
            raise ValueError("a limit order needs limitPrice")
        if self.type == "market" and self.limit_price is not None:
            raise ValueError("limitPrice is only for limit orders")
        return self


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


class WatchlistIn(InputSchema):
    symbols: list[Ticker] = Field(max_length=50)


class WatchlistOut(Schema):
    symbols: list[str]


class ConfigOut(Schema):
    """`GET /api/config`. `realtimeEnabled`: whether real time is on for the user of the
    session sent (for a request without one: whether it is on for every user)."""

    realtime_enabled: bool
    socket_path: str = "/socket.io"
    max_watchlist_symbols: int = 50


class RealtimeRolloutIn(Schema):
    """`PUT /api/admin/realtime`: real time on or off, and the share of users (0-100) who get
    it while on. Strict: `"true"` or `50.0` are refused."""

    enabled: StrictBool
    percent: Annotated[StrictInt, Field(ge=0, le=100)]


class RealtimeRolloutOut(Schema):
    """`GET`/`PUT /api/admin/realtime`: the rollout state this instance applies."""

    enabled: bool
    percent: int


# ---------------------------------------------------------------- real-time events


class UserEventFields(Schema):
    """What every user event carries (`trade:executed`, `trade:failed`, `portfolio:update`):
    `seq`, one more than the user's previous event (the three share the sequence), and
    `epoch`, which changes only when that history is lost (then `seq` starts over)."""

    seq: int
    epoch: str


class TradeExecuted(TradeOut, UserEventFields):
    """`trade:executed`: the fill, with its place in the user's events."""


class PortfolioUpdate(Portfolio, UserEventFields):
    """`portfolio:update`: the portfolio as a fill left it, with its place in the user's
    events."""


class TradeFailed(Schema):
    """A rejection: the order as recorded (status `rejected`) and why."""

    order: OrderOut
    reason: RejectReason
    message: str


class TradeFailedEvent(TradeFailed, UserEventFields):
    """`trade:failed`: the rejection, with its place in the user's events."""


UserEventName = Literal["trade:executed", "trade:failed", "portfolio:update"]
USER_EVENT_PAYLOADS: dict[str, type[UserEventFields]] = {
    "trade:executed": TradeExecuted,
    "trade:failed": TradeFailedEvent,
    "portfolio:update": PortfolioUpdate,
}
"""The user events, by wire name: kept in the outbox and replayed on recovery."""
MAX_EVENTS_PAGE = 200
"""The largest page of `GET /api/events`."""
MAX_SEQ = 2**53 - 1
"""The largest `after` of `GET /api/events`: the largest integer JavaScript holds exactly."""


class UserEventOut(Schema):
    """One of the user's events as it was pushed: its name, and its payload (which carries the
    same `seq` and `epoch`)."""

    event: UserEventName
    seq: int
    epoch: str
    data: TradeExecuted | TradeFailedEvent | PortfolioUpdate
    created_at: datetime


class UserEventsPage(Schema):
    """`GET /api/events?after=<seq>`: the user's events after `seq`, oldest first, at most
    `limit`. `epoch` is the history's now: when it differs from the one a client knew, its `seq`
    means nothing here (take the snapshots). `hasMore`: ask again with the last `seq`.
    `oldestSeq`: the oldest event still kept (null: none); a client whose `after` is older
    than `oldestSeq - 1` missed events that were pruned. `lastSeq`: the user's newest event
    (0: none yet), where a client that has seen no event yet starts counting."""

    epoch: str
    events: list[UserEventOut]
    has_more: bool
    oldest_seq: int | None
    last_seq: int


class WatchlistSubscribe(InputSchema):
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


class RealtimeDisabledNotice(Schema):
    """`realtime:disabled`: an administrator turned real time off (`disabled`) or left this
    user outside the rollout (`not_in_rollout`); the socket is disconnected next. Poll over
    REST and re-check `GET /api/config`."""

    reason: Literal["disabled", "not_in_rollout"]


# ================================================================ the Socket.IO contract
# What the realtime server sends as plain dicts (acks, ops figures, probes, refusals), modelled
# here so clients get types for them, and the map of every event to its payload and ack. The
# server builds these messages itself; these models describe them field for field (checked
# against a running server and docs/WEBSOCKET.md by tests/test_contract.py), and
# `make contract` exports them as JSON Schema for the dashboard.


class LatencyFigures(Schema):
    """Latency percentiles in milliseconds over the last minute; `null` while there are no
    samples."""

    p50: float | None
    p95: float | None
    p99: float | None
    count: int


class OpsStats(Schema):
    """`ops:stats` and the `subscribe:ops` ack's `stats`: one instance's live figures."""

    instance: str
    connections: int
    messages_per_second: float
    quote_latency_ms: LatencyFigures
    trade_latency_ms: LatencyFigures
    client_rtt_ms: LatencyFigures
    ts: int


class LatencyPing(Schema):
    """`latency:ping`: the server's round-trip probe (epoch ms); call its ack at once."""

    ts: int


class ConnectRefusedData(Schema):
    code: Literal["UNAUTHORIZED", "SHUTTING_DOWN", "TOO_MANY_CONNECTIONS", "REALTIME_DISABLED"]


class ConnectRefused(Schema):
    """The `connect_error` of a refused handshake (socket.io-client: `err.message`,
    `err.data`); `message` is the code in lower case."""

    message: Literal["unauthorized", "shutting_down", "too_many_connections", "realtime_disabled"]
    data: ConnectRefusedData


class AckError(Schema):
    """`error` of a failed ack (codes in docs/WEBSOCKET.md, "Errors")."""

    code: Literal["VALIDATION_ERROR", "LIMIT_EXCEEDED", "UNKNOWN_EVENT", "FORBIDDEN", "INTERNAL"]
    message: str


class RateLimitedAckError(Schema):
    """`error` of an event refused by its rate limit: try again after `retryAfterMs`."""

    code: Literal["RATE_LIMITED"]
    message: str
    retry_after_ms: int


class UnknownSymbolAckError(Schema):
    """`error` of a watchlist event naming symbols not traded here (`symbols`, at most 50)."""

    code: Literal["UNKNOWN_SYMBOL"]
    message: str
    symbols: list[str]


class AckFailure(Schema):
    """`{"ok": false, "error": {...}}`: any client event that was refused."""

    ok: Literal[False]
    error: AckError | RateLimitedAckError | UnknownSymbolAckError


class OkAck(Schema):
    """`{"ok": true}`: the ack of an event that answers nothing else (`unsubscribe:ops`)."""

    ok: Literal[True]


class PortfolioAck(OkAck):
    """`subscribe:portfolio`: the user's portfolio now."""

    portfolio: Portfolio


class TradesAck(OkAck):
    """`subscribe:trades`: the user's newest trades, newest first."""

    trades: list[TradeOut]


class QuotesAck(OkAck):
    """`subscribe:watchlist`: the latest quote of each requested symbol that has one, in
    request order."""

    quotes: list[Quote]


class WatchlistAck(OkAck):
    """`unsubscribe:watchlist`: the symbols the socket still watches, sorted."""

    symbols: list[str]


class OpsStatsAck(OkAck):
    """`subscribe:ops`: this instance's live figures; `ops:stats` pushes follow."""

    stats: OpsStats


class ClientEvent(NamedTuple):
    """A client event: the model of its payload (None: it takes none) and of its successful
    ack (a refusal is always `AckFailure`)."""

    payload: type[Schema] | None
    ack: type[OkAck]


CLIENT_EVENTS: dict[str, ClientEvent] = {
    "subscribe:portfolio": ClientEvent(None, PortfolioAck),
    "subscribe:trades": ClientEvent(None, TradesAck),
    "subscribe:watchlist": ClientEvent(WatchlistSubscribe, QuotesAck),
    "unsubscribe:watchlist": ClientEvent(WatchlistSubscribe, WatchlistAck),
    "subscribe:ops": ClientEvent(None, OpsStatsAck),
    "unsubscribe:ops": ClientEvent(None, OkAck),
}
"""Every event a client may send, by name (docs/WEBSOCKET.md, "Client events")."""

SERVER_EVENTS: dict[str, type[Schema]] = {
    "quote:update": Quote,
    "quotes:update": QuoteBatch,
    "trade:executed": TradeExecuted,
    "trade:failed": TradeFailedEvent,
    "portfolio:update": PortfolioUpdate,
    "rate_limited": RateLimitedEvent,
    "server:shutdown": ShutdownNotice,
    "realtime:disabled": RealtimeDisabledNotice,
    "ops:stats": OpsStats,
    "latency:ping": LatencyPing,
}
"""Every event the server pushes, by name, and its payload (docs/WEBSOCKET.md, "Server
events"). `latency:ping` carries an ack the client calls with nothing."""
