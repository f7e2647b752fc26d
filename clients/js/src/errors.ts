/**
 * Typed errors for everything tradewire can refuse (docs/WEBSOCKET.md, "Errors"):
 *
 * - `AckError` (and `RateLimitedError`, `UnknownSymbolError`): a client event answered
 *   `{ok: false, error: {code, message}}`;
 * - `AckTimeoutError`: no answer in time (the connection dropped, or the server is stuck);
 * - `ConnectRefusedError` (`UnauthorizedError`, `ShuttingDownError`,
 *   `TooManyConnectionsError`, `RealtimeDisabledError`): a handshake refused with `connect_error`
 *   `{message, data: {code}}`;
 * - `HttpError`: a REST call (login, logout) answered with an error status.
 *
 * Every class extends `TradewireError`, so `instanceof TradewireError` catches all of them.
 */
import type { AckErrorCode, AckFailureError, ClientEventName, ConnectRefusedCode } from './types.js';

export class TradewireError extends Error {
  override name = 'TradewireError';
}

/** A client event refused in its ack. `code` is the server's, e.g. `VALIDATION_ERROR`. */
export class AckError extends TradewireError {
  override name = 'AckError';
  readonly event: ClientEventName;
  readonly code: AckErrorCode;

  constructor(event: ClientEventName, code: AckErrorCode, message: string) {
    super(`${event}: ${message}`);
    this.event = event;
    this.code = code;
  }
}

/** `RATE_LIMITED`: the same kind of event is refused until `retryAfterMs` has passed. */
export class RateLimitedError extends AckError {
  override name = 'RateLimitedError';
  declare readonly code: 'RATE_LIMITED';
  readonly retryAfterMs: number;

  constructor(event: ClientEventName, message: string, retryAfterMs: number) {
    super(event, 'RATE_LIMITED', message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** `UNKNOWN_SYMBOL`: `symbols` are not traded here; nothing was subscribed. */
export class UnknownSymbolError extends AckError {
  override name = 'UnknownSymbolError';
  declare readonly code: 'UNKNOWN_SYMBOL';
  readonly symbols: string[];

  constructor(event: ClientEventName, message: string, symbols: string[]) {
    super(event, 'UNKNOWN_SYMBOL', message);
    this.symbols = symbols;
  }
}

/** No ack within the timeout. */
export class AckTimeoutError extends TradewireError {
  override name = 'AckTimeoutError';
  readonly event: ClientEventName;

  constructor(event: ClientEventName, timeoutMs: number) {
    super(`${event}: no answer within ${timeoutMs} ms`);
    this.event = event;
  }
}

/** The server refused the handshake. `code` is `data.code` of the `connect_error`. */
export class ConnectRefusedError extends TradewireError {
  override name = 'ConnectRefusedError';
  readonly code: ConnectRefusedCode;

  constructor(code: ConnectRefusedCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** `UNAUTHORIZED`: no, a bad, an expired or a logged-out session. Log in again; not retried. */
export class UnauthorizedError extends ConnectRefusedError {
  override name = 'UnauthorizedError';
  declare readonly code: 'UNAUTHORIZED';
  constructor(message = 'unauthorized') {
    super('UNAUTHORIZED', message);
  }
}

/** `SHUTTING_DOWN`: this instance is stopping; retried after the back-off. */
export class ShuttingDownError extends ConnectRefusedError {
  override name = 'ShuttingDownError';
  declare readonly code: 'SHUTTING_DOWN';
  constructor(message = 'shutting_down') {
    super('SHUTTING_DOWN', message);
  }
}

/** `TOO_MANY_CONNECTIONS`: the session or user holds too many sockets; retried after the back-off. */
export class TooManyConnectionsError extends ConnectRefusedError {
  override name = 'TooManyConnectionsError';
  declare readonly code: 'TOO_MANY_CONNECTIONS';
  constructor(message = 'too_many_connections') {
    super('TOO_MANY_CONNECTIONS', message);
  }
}

/**
 * `REALTIME_DISABLED`: an administrator turned real time off, or this user is outside its
 * rollout. Not retried: use the REST API and ask `GET /api/config` again later.
 */
export class RealtimeDisabledError extends ConnectRefusedError {
  override name = 'RealtimeDisabledError';
  declare readonly code: 'REALTIME_DISABLED';
  constructor(message = 'realtime_disabled') {
    super('REALTIME_DISABLED', message);
  }
}

/** A REST call answered with an error status; `code`/`message` from the `{error}` body if any. */
export class HttpError extends TradewireError {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string | null;

  constructor(status: number, code: string | null, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The typed error for a failed ack's `error`. */
export function ackError(event: ClientEventName, error: AckFailureError): AckError {
  switch (error.code) {
    case 'RATE_LIMITED':
      return new RateLimitedError(event, error.message, error.retryAfterMs);
    case 'UNKNOWN_SYMBOL':
      return new UnknownSymbolError(event, error.message, error.symbols);
    default:
      return new AckError(event, error.code, error.message);
  }
}

/**
 * The typed error for what socket.io-client's `connect_error` gave: a refusal by the server
 * (`err.data.code`) becomes its `ConnectRefusedError`; anything else (a transport failure, a
 * timeout) is returned as it is, socket.io retries those by itself.
 */
export function connectError(error: unknown): ConnectRefusedError | Error {
  const data = (error as { data?: { code?: unknown } } | null)?.data;
  const message = error instanceof Error ? error.message : String(error);
  switch (data?.code) {
    case 'UNAUTHORIZED':
      return new UnauthorizedError(message);
    case 'SHUTTING_DOWN':
      return new ShuttingDownError(message);
    case 'TOO_MANY_CONNECTIONS':
      return new TooManyConnectionsError(message);
    case 'REALTIME_DISABLED':
      return new RealtimeDisabledError(message);
    default:
      return error instanceof Error ? error : new Error(message);
  }
}
