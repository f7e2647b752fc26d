/**
 * Logging in and out over REST with the platform's `fetch` (global in browsers, Node 20 and
 * React Native). Requests go with `credentials: "include"`: in a browser the login response sets
 * the HttpOnly `tw_session` cookie, which later authenticates the socket (and the logout) without
 * the SDK keeping the session id anywhere a script can read it.
 */
import { HttpError } from './errors.js';
import type { Credentials, LoginOut, UserEventsPage } from './types.js';

/** The little of a fetch Response the SDK reads. */
export interface FetchResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}

export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  credentials?: 'include' | 'same-origin' | 'omit';
}

/** `fetch` as the SDK calls it; pass your own in `RestOptions.fetch` to add to it. */
export type Fetch = (url: string, init: FetchInit) => Promise<FetchResponse>;

export interface RestOptions {
  /** Default: the global `fetch`. */
  fetch?: Fetch;
}

function platformFetch(options: RestOptions): Fetch {
  if (options.fetch) return options.fetch;
  const global = (globalThis as unknown as { fetch?: Fetch }).fetch;
  if (typeof global !== 'function') throw new Error('no global fetch: pass options.fetch');
  return (url, init) => global(url, init);
}

/** `baseUrl` + `path`; `baseUrl` "" (or "/") means the page's own origin in a browser. */
export function endpoint(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

async function httpError(response: FetchResponse): Promise<HttpError> {
  let code: string | null = null;
  let message = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // not JSON: the status says it
  }
  return new HttpError(response.status, code, message);
}

/**
 * `POST /api/auth/login`. Resolves with `{sessionId, userId, expiresAt}`; rejects with
 * `HttpError` (401 `INVALID_CREDENTIALS`, 429 `RATE_LIMITED`, ...).
 *
 * Node and React Native: pass `sessionId` to `new TradewireClient({sessionId})` and keep it in
 * the platform's secure storage. A browser app needs nothing from the answer: the cookie is set.
 */
export async function login(baseUrl: string, credentials: Credentials, options: RestOptions = {}): Promise<LoginOut> {
  const response = await platformFetch(options)(endpoint(baseUrl, '/api/auth/login'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username: credentials.username, password: credentials.password }),
    credentials: 'include',
  });
  if (!response.ok) throw await httpError(response);
  return (await response.json()) as LoginOut;
}

/**
 * `POST /api/auth/logout`: revokes the session (the server disconnects its sockets) and clears
 * the cookie. With `sessionId` it is sent as `Authorization: Bearer`; without, the cookie is.
 */
export async function logout(baseUrl: string, sessionId?: string | null, options: RestOptions = {}): Promise<void> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (sessionId) headers.Authorization = `Bearer ${sessionId}`;
  const response = await platformFetch(options)(endpoint(baseUrl, '/api/auth/logout'), {
    method: 'POST',
    headers,
    credentials: 'include',
  });
  if (!response.ok) throw await httpError(response);
}

/**
 * `GET /api/events?after=<seq>&limit=<n>`: the user's events with a `seq` above `after`, oldest
 * first (at most `limit`, 1-200), and where the history stands (`epoch`, `lastSeq`). With
 * `sessionId` it is sent as `Authorization: Bearer`; without, the cookie is.
 */
export async function userEvents(
  baseUrl: string,
  after: number,
  { sessionId, limit = 200, ...options }: RestOptions & { sessionId?: string | null; limit?: number } = {},
): Promise<UserEventsPage> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (sessionId) headers.Authorization = `Bearer ${sessionId}`;
  const query = `?after=${Math.max(0, Math.floor(after))}&limit=${limit}`;
  const response = await platformFetch(options)(endpoint(baseUrl, `/api/events${query}`), {
    method: 'GET',
    headers,
    credentials: 'include',
  });
  if (!response.ok) throw await httpError(response);
  return (await response.json()) as UserEventsPage;
}
