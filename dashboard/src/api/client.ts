/**
 * REST client for the tradewire service. Same origin: the HttpOnly session cookie rides along
 * (`credentials: 'same-origin'`), as it does with the Socket.IO handshake (see auth/session).
 *
 * Errors come back as `{"error": {"code", "message"}}` with a 4xx and are thrown as `ApiError`.
 * A 401 on any call except the auth flow itself calls the handler installed with
 * `onUnauthorized` (the app sends the user to /login); a 429 calls the `onRateLimited` handler.
 */
import type {
  BarsOut,
  ConfigOut,
  Credentials,
  ErrorResponse,
  LoginOut,
  OrderIn,
  OrderOut,
  OpsStats,
  Portfolio,
  Quote,
  RealtimeRolloutIn,
  RealtimeRolloutOut,
  SymbolOut,
  TradeOut,
  UserOut,
  WatchlistOut,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterMs: number | null;

  constructor(status: number, code: string, message: string, retryAfterMs: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface RateLimitNotice {
  /** What was limited, in words a user understands ("order", "login"). */
  what: string;
  retryAfterMs: number;
}

type Handler<T> = ((arg: T) => void) | null;
let unauthorizedHandler: Handler<void> = null;
let rateLimitedHandler: Handler<RateLimitNotice> = null;

/** Installs the 401 handler; returns a function that removes it. */
export function onUnauthorized(handler: () => void): () => void {
  unauthorizedHandler = handler;
  return () => {
    if (unauthorizedHandler === handler) unauthorizedHandler = null;
  };
}

export function onRateLimited(handler: (notice: RateLimitNotice) => void): () => void {
  rateLimitedHandler = handler;
  return () => {
    if (rateLimitedHandler === handler) rateLimitedHandler = null;
  };
}

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Part of the login flow: a 401 is an answer to show, not an expired session. */
  authFlow?: boolean;
  /** Named in the rate-limit toast. */
  what?: string;
  signal?: AbortSignal;
}

function isErrorResponse(value: unknown): value is ErrorResponse {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = value.error;
  return typeof error === 'object' && error !== null && 'code' in error && 'message' in error;
}

function retryAfter(response: Response, body: unknown): number {
  if (typeof body === 'object' && body !== null) {
    const err = (body as { error?: { retryAfterMs?: unknown } }).error;
    if (typeof err?.retryAfterMs === 'number') return err.retryAfterMs;
  }
  const header = Number(response.headers.get('Retry-After'));
  return Number.isFinite(header) && header > 0 ? header * 1000 : 1000;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (response.ok) return body as T;

  const code = isErrorResponse(body) ? body.error.code : `HTTP_${response.status}`;
  const message = isErrorResponse(body) ? body.error.message : response.statusText || 'Request failed';
  if (response.status === 401 && !options.authFlow) unauthorizedHandler?.();
  if (response.status === 429) {
    const ms = retryAfter(response, body);
    rateLimitedHandler?.({ what: options.what ?? 'API', retryAfterMs: ms });
    throw new ApiError(429, code, message, ms);
  }
  throw new ApiError(response.status, code, message);
}

/** A fresh Idempotency-Key; crypto.randomUUID needs a secure context, so fall back. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export const api = {
  register: (credentials: Credentials) =>
    request<UserOut>('POST', '/api/auth/register', { body: credentials, authFlow: true, what: 'sign-up' }),
  login: (credentials: Credentials) =>
    request<LoginOut>('POST', '/api/auth/login', { body: credentials, authFlow: true, what: 'login' }),
  logout: () => request<undefined>('POST', '/api/auth/logout', { authFlow: true }),
  me: () => request<UserOut>('GET', '/api/me', { authFlow: true }),
  config: () => request<ConfigOut>('GET', '/api/config', { authFlow: true }),
  symbols: () => request<SymbolOut[]>('GET', '/api/symbols'),
  quotes: (symbols: readonly string[]) =>
    request<Quote[]>('GET', `/api/quotes?symbols=${symbols.map(encodeURIComponent).join(',')}`, {
      what: 'quote',
    }),
  /** The newest `limit` (1-480) one-minute bars of `symbol`, oldest first. */
  bars: (symbol: string, limit = 120) =>
    request<BarsOut>('GET', `/api/quotes/${encodeURIComponent(symbol)}/bars?interval=1m&limit=${limit}`, {
      what: 'chart',
    }),
  /**
   * Places an order. The Idempotency-Key makes one retry after a network failure safe: the
   * server answers a repeated key with the order it already made.
   */
  placeOrder: async (order: OrderIn, idempotencyKey = newIdempotencyKey()) => {
    const send = () =>
      request<OrderOut>('POST', '/api/orders', {
        body: order,
        headers: { 'Idempotency-Key': idempotencyKey },
        what: 'order',
      });
    try {
      return await send();
    } catch (err) {
      if (err instanceof TypeError) return send(); // network failure: retry once, same key
      throw err;
    }
  },
  openOrders: () => request<OrderOut[]>('GET', '/api/orders?status=open'),
  cancelOrder: (orderId: number) =>
    request<OrderOut>('DELETE', `/api/orders/${orderId}`, { what: 'cancel' }),
  portfolio: () => request<Portfolio>('GET', '/api/portfolio'),
  trades: (limit = 50) => request<TradeOut[]>('GET', `/api/trades?limit=${limit}`),
  trade: (tradeId: number | string) =>
    request<TradeOut>('GET', `/api/trades/${encodeURIComponent(String(tradeId))}`),
  watchlist: () => request<WatchlistOut>('GET', '/api/watchlist'),
  /** Administrators only (403 FORBIDDEN otherwise): this instance's live figures. */
  opsStats: () => request<OpsStats>('GET', '/api/ops/stats'),
  /** Administrators only: the real-time rollout state, and changing it (every instance). */
  realtimeRollout: () => request<RealtimeRolloutOut>('GET', '/api/admin/realtime'),
  setRealtimeRollout: (rollout: RealtimeRolloutIn) =>
    request<RealtimeRolloutOut>('PUT', '/api/admin/realtime', { body: rollout, what: 'real-time rollout' }),
  saveWatchlist: (symbols: string[]) =>
    request<WatchlistOut>('PUT', '/api/watchlist', { body: { symbols }, what: 'watchlist' }),
};
