/**
 * Wire types, generated from the pydantic models of `src/tradewire/schemas.py` (same names):
 * `generated/rest.ts` from the service's OpenAPI document, `generated/events.ts` from the
 * Socket.IO payloads and acks. Regenerate both with `make contract` after changing a model;
 * `tests/test_contract.py` fails while they are stale. This file only names and combines them.
 *
 * Conventions of the wire (see the module docstring there): camelCase field names; money, prices
 * and percentages are decimal strings ("189.14") — never parse them into floats for arithmetic;
 * `ts` is epoch milliseconds; `...At` fields are ISO 8601 UTC strings. Fields with a default in an
 * output model are always present in the JSON, so they are required here.
 */
import type { components as EventComponents } from './generated/events';
import type { components as RestComponents } from './generated/rest';

type Rest = RestComponents['schemas'];
type Events = EventComponents['schemas'];

/** A decimal number as a string, e.g. "189.14". */
export type DecimalString = string;
/** An ISO 8601 UTC timestamp, e.g. "2024-05-01T14:03:07.123Z". */
export type IsoDateTime = string;

// ---------------------------------------------------------------- REST

export type ErrorBody = Rest['ErrorBody'];
export type ErrorResponse = Rest['ErrorResponse'];
export type Credentials = Rest['Credentials'];
export type UserOut = Rest['UserOut'];
export type LoginOut = Rest['LoginOut'];
export type SymbolOut = Rest['SymbolOut'];
export type Quote = Rest['Quote'];
export type OrderIn = Rest['OrderIn'];
export type OrderOut = Rest['OrderOut'];
export type TradeOut = Rest['TradeOut'];
export type Position = Rest['Position'];
export type Portfolio = Rest['Portfolio'];
export type WatchlistIn = Rest['WatchlistIn'];
export type WatchlistOut = Rest['WatchlistOut'];
export type ConfigOut = Rest['ConfigOut'];
/** `PUT /api/admin/realtime` (administrators): real time on/off and the share of users. */
export type RealtimeRolloutIn = Rest['RealtimeRolloutIn'];
export type RealtimeRolloutOut = Rest['RealtimeRolloutOut'];
export type Bar = Rest['Bar'];
export type BarsOut = Rest['BarsOut'];
export type BarInterval = BarsOut['interval'];

export type Side = OrderOut['side'];
export type OrderType = OrderOut['type'];
export type OrderStatus = OrderOut['status'];
export type RejectReason = Events['TradeFailed']['reason'];
export type Role = UserOut['role'];

// ---------------------------------------------------------------- Socket.IO payloads

export type TradeFailed = Events['TradeFailed'];
export type WatchlistSubscribe = Events['WatchlistSubscribe'];
export type QuoteBatch = Events['QuoteBatch'];
export type RateLimitedEvent = Events['RateLimitedEvent'];
export type ShutdownNotice = Events['ShutdownNotice'];
export type RealtimeDisabledNotice = Events['RealtimeDisabledNotice'];
export type LatencyFigures = Events['LatencyFigures'];
/** The `ops:stats` payload; `GET /api/ops/stats` answers the same model. */
export type OpsStats = Events['OpsStats'];
export type LatencyPing = Events['LatencyPing'];
/** `err.data` of a refused handshake's `connect_error`, with its `err.message`. */
export type ConnectRefused = Events['ConnectRefused'];

/** Every server push by event name, and its payload. */
export type ServerEvents = Events['ServerEvents'];
/** The payload of each client event that takes one. */
export type ClientEventPayloads = Events['ClientEventPayloads'];
/** The ack of each client event: `{ok: true, ...}` or `AckFailure`. */
export type ClientEventAcks = Events['ClientEventAcks'];
export type ClientEventName = keyof ClientEventAcks;

// ---------------------------------------------------------------- Socket.IO acks

export type AckFailure = Events['AckFailure'];
export type AckError = AckFailure['error'];

// ---------------------------------------------------------------- socket.io-client's event maps

/** For `Socket<ServerToClientEvents, ClientToServerEvents>`: `on` and `emit` typed by name. */
export type ServerToClientEvents = {
  [E in Exclude<keyof ServerEvents, 'latency:ping'>]: (payload: ServerEvents[E]) => void;
} & {
  /** The server's round-trip probe: call `ack` at once (the server ignores what it carries). */
  'latency:ping': (ping: LatencyPing, ack?: (res: object) => void) => void;
};

export type ClientToServerEvents = {
  [E in ClientEventName]: E extends keyof ClientEventPayloads
    ? (payload: ClientEventPayloads[E], ack?: (res: ClientEventAcks[E]) => void) => void
    : (ack?: (res: ClientEventAcks[E]) => void) => void;
};
