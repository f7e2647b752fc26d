/**
 * Wire types mirroring `src/tradewire/schemas.py`, one interface per pydantic model, same names.
 *
 * Conventions of the wire (see the module docstring there): camelCase field names; money, prices
 * and percentages are decimal strings ("189.14") — never parse them into floats for arithmetic;
 * `ts` is epoch milliseconds; `...At` fields are ISO 8601 UTC strings. Fields with a default in an
 * output model are always present in the JSON, so they are required here.
 *
 * The Python suite (`tests/test_contract.py`) checks these against the models: keep them in step.
 */

/** A decimal number as a string, e.g. "189.14". */
export type DecimalString = string;
/** An ISO 8601 UTC timestamp, e.g. "2024-05-01T14:03:07.123Z". */
export type IsoDateTime = string;

export type Side = 'buy' | 'sell';
export type OrderType = 'market' | 'limit';
export type OrderStatus = 'open' | 'filled' | 'rejected' | 'cancelled';
export type RejectReason =
  | 'INSUFFICIENT_CASH'
  | 'INSUFFICIENT_SHARES'
  | 'UNKNOWN_SYMBOL'
  | 'INVALID_QUANTITY'
  | 'INVALID_PRICE'
  | 'NO_QUOTE';
export type Role = 'user' | 'admin';

// ---------------------------------------------------------------- errors

export interface ErrorBody {
  code: string;
  message: string;
}

export interface ErrorResponse {
  error: ErrorBody;
}

// ---------------------------------------------------------------- accounts

export interface Credentials {
  username: string;
  password: string;
}

export interface UserOut {
  userId: number;
  username: string;
  role: Role;
}

export interface LoginOut {
  sessionId: string;
  userId: number;
  expiresAt: IsoDateTime;
}

// ---------------------------------------------------------------- market

export interface SymbolOut {
  symbol: string;
  name: string;
}

/** One quote. `seq` increases by one per tick of that symbol; `ts` is server time (epoch ms). */
export interface Quote {
  symbol: string;
  bid: DecimalString;
  ask: DecimalString;
  last: DecimalString;
  open: DecimalString;
  change: DecimalString;
  changePct: DecimalString;
  seq: number;
  ts: number;
}

export type BarInterval = '1m';

/** One OHLC bar of `last` prices; `time` is the bar's start in UTC epoch seconds, `volume` the
 * number of ticks in it. */
export interface Bar {
  time: number;
  open: DecimalString;
  high: DecimalString;
  low: DecimalString;
  close: DecimalString;
  volume: number;
}

/** GET /api/quotes/{symbol}/bars: the newest bars of one symbol, oldest first. */
export interface BarsOut {
  symbol: string;
  interval: BarInterval;
  bars: Bar[];
}

// ---------------------------------------------------------------- trading

export interface OrderIn {
  symbol: string;
  side: Side;
  quantity: number;
  type?: OrderType;
  limitPrice?: DecimalString | null;
}

export interface OrderOut {
  orderId: number;
  symbol: string;
  side: Side;
  type: OrderType;
  quantity: number;
  limitPrice: DecimalString | null;
  status: OrderStatus;
  rejectReason: RejectReason | null;
  fillPrice: DecimalString | null;
  createdAt: IsoDateTime;
  updatedAt: IsoDateTime;
}

/** A fill. Everything a toast and a trade page need. */
export interface TradeOut {
  tradeId: number;
  orderId: number;
  symbol: string;
  side: Side;
  quantity: number;
  price: DecimalString;
  total: DecimalString;
  executedAt: IsoDateTime;
}

export interface Position {
  symbol: string;
  quantity: number;
  avgCost: DecimalString;
  last: DecimalString | null;
  marketValue: DecimalString | null;
  unrealizedPnl: DecimalString | null;
}

export interface Portfolio {
  userId: number;
  cash: DecimalString;
  positions: Position[];
  positionsValue: DecimalString;
  totalValue: DecimalString;
  unrealizedPnl: DecimalString;
  asOf: IsoDateTime;
}

export interface WatchlistIn {
  symbols: string[];
}

export interface WatchlistOut {
  symbols: string[];
}

export interface ConfigOut {
  realtimeEnabled: boolean;
  socketPath: string;
  maxWatchlistSymbols: number;
}

// ---------------------------------------------------------------- real-time events

/** `trade:failed`: the order as recorded (status `rejected`) and why. */
export interface TradeFailed {
  order: OrderOut;
  reason: RejectReason;
  message: string;
}

/** `subscribe:watchlist` / `unsubscribe:watchlist` payload. */
export interface WatchlistSubscribe {
  symbols: string[];
  batch?: boolean;
}

/** `quotes:update`: the latest quote per symbol since the last flush (batching clients). */
export interface QuoteBatch {
  quotes: Quote[];
}

export interface RateLimitedEvent {
  event: string;
  retryAfterMs: number;
}

/** `server:shutdown`: the instance is going away; reconnect (possibly elsewhere). */
export interface ShutdownNotice {
  reconnectAfterMs: number;
}

/** Latency percentiles in milliseconds over the last minute; `null` while there are no samples. */
export interface LatencyFigures {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  count: number;
}

/**
 * `ops:stats`, the `subscribe:ops` ack's `stats` and `GET /api/ops/stats`: one instance's live
 * figures (`OpsMonitor.snapshot` in src/tradewire/realtime/ops.py, a dict rather than a model).
 */
export interface OpsStats {
  instance: string;
  connections: number;
  messagesPerSecond: number;
  quoteLatencyMs: LatencyFigures;
  tradeLatencyMs: LatencyFigures;
  clientRttMs: LatencyFigures;
  ts: number;
}

/** `latency:ping`: the server's round-trip probe; answer its ack at once. */
export interface LatencyPing {
  ts: number;
}

// ---------------------------------------------------------------- Socket.IO acks (not models)

export interface AckError {
  code: string;
  message: string;
  retryAfterMs?: number;
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: AckError };

export interface ServerToClientEvents {
  'portfolio:update': (portfolio: Portfolio) => void;
  'trade:executed': (trade: TradeOut) => void;
  'trade:failed': (failure: TradeFailed) => void;
  'quote:update': (quote: Quote) => void;
  'quotes:update': (batch: QuoteBatch) => void;
  rate_limited: (event: RateLimitedEvent) => void;
  'server:shutdown': (notice: ShutdownNotice) => void;
  'ops:stats': (stats: OpsStats) => void;
  'latency:ping': (ping: LatencyPing, ack?: (res: object) => void) => void;
}

export interface ClientToServerEvents {
  'subscribe:portfolio': (ack: (res: Ack<{ portfolio: Portfolio }>) => void) => void;
  'subscribe:trades': (ack: (res: Ack<{ trades: TradeOut[] }>) => void) => void;
  'subscribe:watchlist': (
    payload: WatchlistSubscribe,
    ack: (res: Ack<{ quotes: Quote[] }>) => void,
  ) => void;
  'unsubscribe:watchlist': (payload: WatchlistSubscribe, ack: (res: Ack) => void) => void;
  'subscribe:ops': (ack: (res: Ack<{ stats: OpsStats }>) => void) => void;
  'unsubscribe:ops': () => void;
}
