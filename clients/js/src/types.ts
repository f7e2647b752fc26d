/**
 * The wire types by name, from `generated/` (written by `make contract` from the pydantic models
 * of the service's `src/tradewire/schemas.py`; never edit those files by hand).
 *
 * Conventions: camelCase fields; money, prices and percentages are decimal strings ("189.72"),
 * never floats; `ts` is epoch milliseconds; `...At` fields are ISO 8601 UTC strings.
 */
import type { components as EventComponents } from './generated/events.js';
import type { components as RestComponents } from './generated/rest.js';

type Rest = RestComponents['schemas'];
type Events = EventComponents['schemas'];

export type Credentials = Rest['Credentials'];
export type LoginOut = Rest['LoginOut'];
export type ErrorResponse = Rest['ErrorResponse'];

export type Quote = Events['Quote'];
export type QuoteBatch = Events['QuoteBatch'];
export type TradeOut = Events['TradeOut'];
export type TradeFailed = Events['TradeFailed'];
export type OrderOut = Events['OrderOut'];
export type Portfolio = Events['Portfolio'];
export type Position = Events['Position'];
export type OpsStats = Events['OpsStats'];
export type RateLimitedEvent = Events['RateLimitedEvent'];
export type ShutdownNotice = Events['ShutdownNotice'];
export type LatencyPing = Events['LatencyPing'];
export type WatchlistSubscribe = Events['WatchlistSubscribe'];
export type ConnectRefused = Events['ConnectRefused'];
export type RealtimeDisabledNotice = Events['RealtimeDisabledNotice'];
/** `trade:executed`, `trade:failed`, `portfolio:update`: each carries the user's `seq` and `epoch`. */
export type UserEventName = 'trade:executed' | 'trade:failed' | 'portfolio:update';
export type UserEventsPage = Rest['UserEventsPage'];
export type UserEventOut = Rest['UserEventOut'];
export type ConnectRefusedCode = Events['ConnectRefusedData']['code'];

/** Every server push by event name, and its payload. */
export type ServerEvents = Events['ServerEvents'];
export type ServerEventName = keyof ServerEvents;
/** The payload of each client event that takes one. */
export type ClientEventPayloads = Events['ClientEventPayloads'];
/** The ack of each client event: `{ok: true, ...}` or `AckFailure`. */
export type ClientEventAcks = Events['ClientEventAcks'];
export type ClientEventName = keyof ClientEventAcks;
/** A client event's successful ack. */
export type AckOf<E extends ClientEventName> = Extract<ClientEventAcks[E], { ok: true }>;

export type AckFailure = Events['AckFailure'];
/** `error` of a refused event: `code` is one of docs/WEBSOCKET.md's "Errors". */
export type AckFailureError = AckFailure['error'];
export type AckErrorCode = AckFailureError['code'];

/** socket.io-client's event maps, for `Socket<ServerToClientEvents, ClientToServerEvents>`. */
export type ServerToClientEvents = {
  [E in Exclude<ServerEventName, 'latency:ping'>]: (payload: ServerEvents[E]) => void;
} & {
  /** The server's round-trip probe: the SDK answers it at once. */
  'latency:ping': (ping: LatencyPing, ack?: (res: object) => void) => void;
};

export type ClientToServerEvents = {
  [E in ClientEventName]: E extends keyof ClientEventPayloads
    ? (payload: ClientEventPayloads[E], ack?: (res: ClientEventAcks[E]) => void) => void
    : (ack?: (res: ClientEventAcks[E]) => void) => void;
};
