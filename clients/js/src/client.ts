/**
 * TradewireClient: one Socket.IO connection to tradewire, typed from the generated contract.
 *
 * What it guarantees (docs/WEBSOCKET.md, "Reconnecting"):
 * - it remembers what was subscribed (portfolio, trades, ops, the watchlist's symbols in order
 *   and its `batch` flag) and sends all of it again after every connect, reporting the snapshots
 *   of the acks as `resubscribed`;
 * - a dropped transport is retried by socket.io itself (the Manager's back-off); a disconnect the
 *   server decided (`io server disconnect`: `server:shutdown`, logout, flood) and a refused
 *   handshake (`SHUTTING_DOWN`, `TOO_MANY_CONNECTIONS`) are retried by the client after
 *   `ReconnectBackoff` (from `reconnectAfterMs` when a `server:shutdown` came first, doubled on
 *   every failure, capped at 30 s, jittered);
 * - `UNAUTHORIZED` stops it: no retry until `connect()` is called again (after a new login);
 * - so does real time being off for the user: a `REALTIME_DISABLED` refusal, or a
 *   `realtime:disabled` push (the server disconnects next); poll REST and ask
 *   `GET /api/config` until it says real time is on, then `connect()`;
 * - a `RATE_LIMITED` subscription is sent again only after its `retryAfterMs`, and any event of
 *   that kind waits until then instead of being refused again;
 * - the user's events (`trade:executed`, `trade:failed`, `portfolio:update`) are passed on once
 *   each, by their `seq` (UserEventLedger): a connect that socket.io recovered (`recovered`)
 *   gets the missed ones replayed by the server; after any other reconnect the client asks
 *   `GET /api/events?after=<seq>` once the snapshots are in and reports what happened meanwhile
 *   as `missed`;
 * - `latency:ping` is answered at once;
 * - no DOM: it uses only socket.io-client, timers and `fetch` (for `logout`). In a browser with
 *   no session id the handshake is authenticated by the HttpOnly `tw_session` cookie
 *   (`withCredentials`); the client never stores a session id anywhere but in itself.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { type BackoffOptions, DEFAULT_INITIAL_MS, DEFAULT_MAX_MS, ReconnectBackoff } from './backoff.js';
import {
  AckTimeoutError,
  ackError,
  type ConnectRefusedError,
  connectError,
  RateLimitedError,
  TradewireError,
  RealtimeDisabledError,
  UnauthorizedError,
  UnknownSymbolError,
} from './errors.js';
import { UserEventLedger } from './ledger.js';
import { type RestOptions, logout, userEvents } from './rest.js';
import type {
  AckOf,
  ClientEventAcks,
  ClientEventName,
  ClientEventPayloads,
  ClientToServerEvents,
  OpsStats,
  Portfolio,
  Quote,
  ServerEventName,
  ServerEvents,
  ServerToClientEvents,
  TradeOut,
  UserEventName,
  UserEventOut,
} from './types.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type SocketFactoryOptions = Partial<ManagerOptions & SocketOptions>;
/** How the client makes its socket: socket.io-client's `io` unless told otherwise. */
export type SocketFactory = (url: string | undefined, options: SocketFactoryOptions) => ClientSocket;
export type Transport = 'websocket' | 'polling';

export interface ClientOptions {
  /** The service's origin, e.g. "https://trade.example.com". Leave out only in a browser page
   * served by tradewire itself (same origin). */
  url?: string;
  /** Node and React Native: `sessionId` from `login()`. Leave out in a browser: the HttpOnly
   * `tw_session` cookie authenticates the handshake. */
  sessionId?: string | null;
  /** Default "/socket.io" (also in `GET /api/config`). */
  path?: string;
  /** Default socket.io's: long-polling, then the upgrade to WebSocket. React Native: ["websocket"]. */
  transports?: Transport[];
  /** How long an ack may take (ms, default 8000). */
  ackTimeoutMs?: number;
  /** How long a handshake may take before it counts as failed (ms, default 20000). */
  connectTimeoutMs?: number;
  /** The back-off of reconnects the server decided (and socket.io's own, same bounds). */
  backoff?: BackoffOptions;
  /** How often a `RATE_LIMITED` subscription is sent again after `retryAfterMs` (default 3). */
  rateLimitRetries?: number;
  /** Anything else for socket.io-client's `io()` (they win over the client's own choices). */
  socketOptions?: SocketFactoryOptions;
  /** Makes the socket; default socket.io-client's `io` (tests pass a stand-in). */
  io?: SocketFactory;
  /** For `logout()` and `GET /api/events`. */
  rest?: RestOptions;
  /** After a reconnect that was not recovered, ask `GET /api/events` what was missed (default
   * true; needs `fetch`, and `url` outside a browser page of the service). */
  catchUp?: boolean;
}

/** What happened to the user while the client was away (`missed`, after a reconnect that the
 * server could not recover). The snapshots of the resubscription already include it. */
export interface Missed {
  /** The user's events the client had not seen, oldest first. */
  events: UserEventOut[];
  /** The fills among them. */
  fills: number;
  /** False when there were more than the client fetched (CATCH_UP_PAGES pages). */
  complete: boolean;
}

export interface WatchlistOptions {
  /** `true`: `quotes:update` every 50 ms instead of one `quote:update` per tick. It applies to
   * all the socket's symbols, and is remembered for the resubscribe. */
  batch?: boolean;
}

/** What the client remembers and sends again after every connect. */
export interface Subscriptions {
  portfolio: boolean;
  trades: boolean;
  ops: boolean;
  /** Upper-case, in the order they were first subscribed. */
  watchlist: string[];
  batch: boolean;
}

/** The snapshots the resubscription after a connect got (only what was subscribed). */
export interface Resubscribed {
  portfolio?: Portfolio;
  trades?: TradeOut[];
  quotes?: Quote[];
  ops?: OpsStats;
}

/** The client's own events, beside the server's pushes. */
export interface LifecycleEvents {
  connect: () => void;
  disconnect: (reason: string) => void;
  /** A failed handshake: a `ConnectRefusedError` when the server refused it, else socket.io's
   * transport error (retried by socket.io). */
  connect_error: (error: ConnectRefusedError | Error) => void;
  /** `UNAUTHORIZED`: the client stopped. Log in again, `setSessionId()`, `connect()`. */
  unauthorized: (error: UnauthorizedError) => void;
  /** A reconnect the client scheduled itself (after a server disconnect or a refusal). */
  reconnect_scheduled: (info: { delayMs: number; attempt: number }) => void;
  /** An attempt to connect again starts (socket.io's own or the client's). */
  reconnect_attempt: (attempt: number) => void;
  /** After each connect, once every remembered subscription has answered. */
  resubscribed: (snapshots: Resubscribed) => void;
  /** A remembered subscription sent again after a connect was refused as `RATE_LIMITED`; the
   * client sends it once more after `error.retryAfterMs`. */
  subscription_retry: (error: RateLimitedError) => void;
  /** A remembered subscription that failed when sent again (after its rate-limit retries). */
  subscription_error: (error: TradewireError) => void;
  /** The connect was socket.io's connection-state recovery: the socket kept its id and
   * subscriptions, and the server replays the user events it missed, as pushes. */
  recovered: () => void;
  /** After a reconnect that was not recovered: the user's events while the client was away. */
  missed: (missed: Missed) => void;
  /** `GET /api/events` failed after a reconnect (what was missed is not known). */
  catch_up_error: (error: TradewireError) => void;
}

/** Server pushes by name (`latency:ping` is answered by the client; handlers just see it). */
export type ServerEventHandlers = { [E in ServerEventName]: (payload: ServerEvents[E]) => void };
export type ClientEvents = ServerEventHandlers & LifecycleEvents;
export type ClientEventNames = keyof ClientEvents;

/** Every server event, checked complete against the contract by its type. */
const SERVER_EVENT_NAMES: Record<ServerEventName, true> = {
  'quote:update': true,
  'quotes:update': true,
  'trade:executed': true,
  'trade:failed': true,
  'portfolio:update': true,
  rate_limited: true,
  'server:shutdown': true,
  'realtime:disabled': true,
  'ops:stats': true,
  'latency:ping': true,
};
export const SERVER_EVENTS = Object.keys(SERVER_EVENT_NAMES) as ServerEventName[];
/** The pushes `listen()` acts on itself before passing them on. */
const HANDLED = new Set<ServerEventName>(['server:shutdown', 'latency:ping', 'rate_limited', 'realtime:disabled']);
/** The pushes numbered by the user's `seq`: passed on once each. */
const USER_EVENTS: readonly UserEventName[] = ['trade:executed', 'trade:failed', 'portfolio:update'];
/** Pages of GET /api/events a catch-up reads at most (200 events each). */
export const CATCH_UP_PAGES = 10;

export const DEFAULT_ACK_TIMEOUT_MS = 8000;
export const DEFAULT_RATE_LIMIT_RETRIES = 3;

/** The payload arguments of a client event: one for those that take a payload, else none. */
export type PayloadArgs<E extends ClientEventName> = E extends keyof ClientEventPayloads ? [ClientEventPayloads[E]] : [];

type Settled<T> = PromiseSettledResult<T> | undefined;
interface SyncOutcome {
  portfolio?: Settled<AckOf<'subscribe:portfolio'>>;
  trades?: Settled<AckOf<'subscribe:trades'>>;
  watchlist?: Settled<AckOf<'subscribe:watchlist'>>;
  ops?: Settled<AckOf<'subscribe:ops'>>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Thrown by calls cut short by `close()`. */
export class ClientClosedError extends TradewireError {
  override name = 'ClientClosedError';
  constructor() {
    super('the client was closed');
  }
}

function isAckTimeout(error: unknown): boolean {
  return error instanceof Error && /timed out/i.test(error.message);
}

function unwrap<T>(outcome: Settled<T>): T {
  if (outcome === undefined) throw new TradewireError('not subscribed when the connection came back');
  if (outcome.status === 'rejected') throw outcome.reason;
  return outcome.value;
}

export class TradewireClient {
  /** The socket.io-client socket (for what the client does not wrap; do not connect it yourself). */
  readonly socket: ClientSocket;
  readonly backoff: ReconnectBackoff;
  private sessionId: string | null;
  private readonly url: string | undefined;
  private readonly ackTimeoutMs: number;
  private readonly rateLimitRetries: number;
  private readonly restOptions: RestOptions;
  private readonly handlers = new Map<string, Set<(...args: never[]) => void>>();
  private readonly wanted: Subscriptions = { portfolio: false, trades: false, ops: false, watchlist: [], batch: false };
  /** Event kind -> epoch ms before which the server refuses it (from RATE_LIMITED). */
  private readonly retryAt = new Map<ClientEventName, number>();
  private readonly sleeps = new Set<{ timer: ReturnType<typeof setTimeout>; reject: (error: unknown) => void }>();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly onReconnectAttempt = (attempt: number): void => {
    this.dispatch('reconnect_attempt', attempt);
  };
  /** Counts connects: a retry loop of an older connection stops when it changed. */
  private generation = 0;
  private closed = true;
  private stopped = false;
  private firstConnect: Deferred<void> | null = null;
  private readonly catchUpEnabled: boolean;
  /** The user's events accounted for: pushed, replayed, or in a snapshot. */
  readonly ledger = new UserEventLedger();
  private nextSync: Deferred<SyncOutcome> | null = null;

  constructor(options: ClientOptions = {}) {
    this.url = options.url;
    this.sessionId = options.sessionId ?? null;
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.rateLimitRetries = options.rateLimitRetries ?? DEFAULT_RATE_LIMIT_RETRIES;
    this.restOptions = options.rest ?? {};
    this.catchUpEnabled = options.catchUp ?? true;
    this.backoff = new ReconnectBackoff(options.backoff);
    const factory: SocketFactory =
      options.io ?? ((url, opts) => (url === undefined ? io(opts) : io(url, opts)) as ClientSocket);
    this.socket = factory(options.url, {
      path: options.path ?? '/socket.io',
      ...(options.transports ? { transports: options.transports } : {}),
      // Read at every handshake, so a reconnect uses the current session; `{}` lets the cookie speak.
      auth: (cb: (data: object) => void) => {
        cb(this.sessionId ? { sessionId: this.sessionId } : {});
      },
      withCredentials: true,
      forceNew: true,
      autoConnect: false,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: options.backoff?.initialMs ?? DEFAULT_INITIAL_MS,
      reconnectionDelayMax: options.backoff?.maxMs ?? DEFAULT_MAX_MS,
      randomizationFactor: 0.5,
      timeout: options.connectTimeoutMs ?? 20_000,
      ...options.socketOptions,
    });
    this.listen();
  }

  // ------------------------------------------------------------ connection

  /** Whether the socket is connected now. */
  get connected(): boolean {
    return this.socket.connected;
  }

  /** What is remembered for the resubscribe (a copy). */
  get subscriptions(): Subscriptions {
    return { ...this.wanted, watchlist: [...this.wanted.watchlist] };
  }

  /** The session for the next handshake (after a new login); `null`: the cookie. */
  setSessionId(sessionId: string | null): void {
    this.sessionId = sessionId;
  }

  /**
   * Connects, and keeps connecting after every drop until `close()`. Resolves at the first
   * connect; rejects with `UnauthorizedError` when the session is refused and with
   * `RealtimeDisabledError` when real time is off for the user (the client then stops), or
   * `ClientClosedError` on `close()`. Other refusals and failures are retried.
   */
  connect(): Promise<void> {
    this.closed = false;
    this.stopped = false;
    if (this.socket.connected) return Promise.resolve();
    this.firstConnect ??= deferred<void>();
    const { promise } = this.firstConnect;
    if (!this.socket.active) this.socket.connect();
    return promise;
  }

  /** Disconnects and stops reconnecting. Subscriptions stay remembered for a later `connect()`. */
  close(): void {
    this.closed = true;
    this.clearReconnect();
    for (const sleep of this.sleeps) {
      clearTimeout(sleep.timer);
      sleep.reject(new ClientClosedError());
    }
    this.sleeps.clear();
    this.firstConnect?.reject(new ClientClosedError());
    this.firstConnect = null;
    this.nextSync?.reject(new ClientClosedError());
    this.nextSync = null;
    this.socket.disconnect();
  }

  /** `close()`, and every listener off the socket and off the client: it is not used again. */
  dispose(): void {
    this.close();
    this.handlers.clear();
    this.socket.io.off('reconnect_attempt', this.onReconnectAttempt);
    this.socket.removeAllListeners();
  }

  /** `close()`, then `POST /api/auth/logout` (with the session id, else the cookie). */
  async logout(): Promise<void> {
    this.close();
    await logout(this.url ?? '', this.sessionId, this.restOptions);
    this.sessionId = null;
  }

  // ------------------------------------------------------------ events

  /** Calls `handler` for every `event` (a server push or a lifecycle event); returns `off`. */
  on<E extends ClientEventNames>(event: E, handler: ClientEvents[E]): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as (...args: never[]) => void);
    return () => this.off(event, handler);
  }

  off<E extends ClientEventNames>(event: E, handler: ClientEvents[E]): void {
    this.handlers.get(event)?.delete(handler as (...args: never[]) => void);
  }

  private dispatch<E extends ClientEventNames>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      (handler as (...a: Parameters<ClientEvents[E]>) => void)(...args);
    }
  }

  private listen(): void {
    const s = this.socket;
    s.on('connect', () => this.onConnect());
    s.on('disconnect', (reason) => this.onDisconnect(reason));
    s.on('connect_error', (error) => this.onConnectError(error));
    s.io.on('reconnect_attempt', this.onReconnectAttempt);
    s.on('server:shutdown', (notice) => {
      this.backoff.shutdown(notice.reconnectAfterMs);
      this.dispatch('server:shutdown', notice);
    });
    s.on('latency:ping', (ping, ack) => {
      if (typeof ack === 'function') ack({});
      this.dispatch('latency:ping', ping);
    });
    s.on('realtime:disabled', (notice) => {
      this.stop(); // the disconnect that follows is not retried
      this.dispatch('realtime:disabled', notice);
    });
    s.on('rate_limited', (notice) => {
      this.noteRateLimit(notice.event as ClientEventName, notice.retryAfterMs);
      this.dispatch('rate_limited', notice);
    });
    const untyped = s as unknown as { on(ev: string, fn: (payload: unknown) => void): void };
    for (const name of SERVER_EVENTS) {
      if (HANDLED.has(name)) continue;
      const user = (USER_EVENTS as readonly string[]).includes(name);
      untyped.on(name, (payload) => {
        if (user && isNumbered(payload) && !this.ledger.accept(payload)) return; // seen already
        (this.dispatch as (e: string, p: unknown) => void)(name, payload);
      });
    }
  }

  private onConnect(): void {
    this.generation += 1;
    this.backoff.reset();
    this.clearReconnect();
    this.firstConnect?.resolve();
    this.firstConnect = null;
    this.dispatch('connect');
    const recovered = this.socket.recovered;
    if (recovered) this.dispatch('recovered');
    const generation = this.generation;
    void this.resubscribe(generation).then(() => {
      // a recovered socket gets its missed events replayed; any other learns of them over REST
      if (!recovered && this.catchUpEnabled && generation === this.generation) void this.catchUp(generation);
    });
  }

  /** Whether the current connection was recovered (socket.io's `socket.recovered`). */
  get recovered(): boolean {
    return this.socket.connected && this.socket.recovered;
  }

  /**
   * `GET /api/events?after=<ledger floor>` after a reconnect that was not recovered: the
   * events not seen are reported as `missed` (the snapshots taken just before include them).
   * The first connect only learns where the history stands (nothing was missed then).
   */
  private async catchUp(generation: number): Promise<void> {
    const first = !this.ledger.known;
    const missed: UserEventOut[] = [];
    let complete = true;
    try {
      for (let page = 0; ; page += 1) {
        const after = first ? Number.MAX_SAFE_INTEGER : this.ledger.floor;
        const answer = await userEvents(this.url ?? '', after, { ...this.restOptions, sessionId: this.sessionId });
        if (generation !== this.generation) return;
        const last = !answer.hasMore || page + 1 >= CATCH_UP_PAGES;
        missed.push(...this.ledger.absorb(answer, !answer.hasMore));
        if (last) {
          complete = !answer.hasMore;
          break;
        }
      }
    } catch (error) {
      this.dispatch('catch_up_error', error instanceof TradewireError ? error : new TradewireError(String(error)));
      return;
    }
    if (first || missed.length === 0) return;
    const fills = missed.filter((e) => e.event === 'trade:executed').length;
    this.dispatch('missed', { events: missed, fills, complete });
  }

  private onDisconnect(reason: string): void {
    this.dispatch('disconnect', reason);
    // socket.io does not come back after a disconnect the server decided: the client does.
    if (reason === 'io server disconnect') this.scheduleReconnect();
  }

  private onConnectError(raw: Error): void {
    const error = connectError(raw);
    this.dispatch('connect_error', error);
    if (error instanceof UnauthorizedError || error instanceof RealtimeDisabledError) {
      this.stop();
      this.socket.disconnect();
      this.firstConnect?.reject(error);
      this.firstConnect = null;
      if (error instanceof UnauthorizedError) this.dispatch('unauthorized', error);
      return;
    }
    // A refusal by the server is not retried by socket.io (`active` is false): the client does.
    if (!this.socket.active) this.scheduleReconnect();
  }

  /** No more reconnects until `connect()` is called again. */
  private stop(): void {
    this.stopped = true;
    this.clearReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.stopped || this.reconnectTimer !== null) return;
    const delayMs = this.backoff.next();
    const attempt = this.backoff.attempts;
    this.dispatch('reconnect_scheduled', { delayMs, attempt });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed || this.stopped || this.socket.connected) return;
      this.dispatch('reconnect_attempt', attempt);
      this.socket.connect();
    }, delayMs);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  // ------------------------------------------------------------ requests

  /**
   * Emits `event` and resolves with its successful ack, typed by the event's name. Rejects with
   * the `AckError` for `{ok: false}` (`RateLimitedError`, `UnknownSymbolError`, ...) or
   * `AckTimeoutError`. An event whose kind is rate limited waits until `retryAfterMs` has passed
   * before it is sent; with `retries`, a `RATE_LIMITED` answer is sent again after that delay
   * (at most `retries` times, and only while the same connection lasts).
   */
  async request<E extends ClientEventName>(event: E, ...payload: PayloadArgs<E>): Promise<AckOf<E>> {
    return this.requestWithRetries(event, payload, 0, this.generation);
  }

  private async requestWithRetries<E extends ClientEventName>(
    event: E,
    payload: PayloadArgs<E>,
    retries: number,
    generation: number,
    onRetry?: (error: RateLimitedError) => void,
  ): Promise<AckOf<E>> {
    for (let attempt = 0; ; attempt += 1) {
      const wait = (this.retryAt.get(event) ?? 0) - Date.now();
      if (wait > 0) await this.sleep(wait);
      try {
        return await this.emit(event, payload);
      } catch (error) {
        const again = error instanceof RateLimitedError && attempt < retries && this.generation === generation;
        if (!again || !this.socket.connected) throw error;
        onRetry?.(error);
      }
    }
  }

  private async emit<E extends ClientEventName>(event: E, payload: PayloadArgs<E>): Promise<AckOf<E>> {
    // socket.io-client's typed emitWithAck cannot follow a generic event name: the untyped view
    const untyped = this.socket as unknown as {
      timeout(ms: number): { emitWithAck(ev: string, ...a: unknown[]): Promise<ClientEventAcks[E] | undefined> };
    };
    let ack: ClientEventAcks[E] | undefined;
    try {
      ack = await untyped.timeout(this.ackTimeoutMs).emitWithAck(event, ...payload);
    } catch (error) {
      if (isAckTimeout(error)) throw new AckTimeoutError(event, this.ackTimeoutMs);
      throw error;
    }
    if (typeof ack !== 'object' || ack === null || typeof ack.ok !== 'boolean') {
      throw new TradewireError(`${event}: malformed acknowledgement`);
    }
    if (!ack.ok) {
      const error = ackError(event, ack.error);
      if (error instanceof RateLimitedError) this.noteRateLimit(event, error.retryAfterMs);
      throw error;
    }
    return ack as AckOf<E>;
  }

  private noteRateLimit(event: ClientEventName, retryAfterMs: number): void {
    const until = Date.now() + Math.max(0, retryAfterMs);
    if (until > (this.retryAt.get(event) ?? 0)) this.retryAt.set(event, until);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        reject,
      };
      this.sleeps.add(entry);
    });
  }

  /** While disconnected, a subscription waits for the resubscription of the next connect. */
  private awaitNextSync(): Promise<SyncOutcome> {
    this.nextSync ??= deferred<SyncOutcome>();
    return this.nextSync.promise;
  }

  private subscribeNow<E extends ClientEventName>(event: E, ...payload: PayloadArgs<E>): Promise<AckOf<E>> {
    return this.requestWithRetries(event, payload, this.rateLimitRetries, this.generation);
  }

  // ------------------------------------------------------------ subscriptions

  /** `subscribe:portfolio`: the portfolio now; `portfolio:update` pushes follow. Remembered. */
  async subscribePortfolio(): Promise<Portfolio> {
    this.wanted.portfolio = true;
    if (!this.socket.connected) return unwrap((await this.awaitNextSync()).portfolio).portfolio;
    return (await this.subscribeNow('subscribe:portfolio')).portfolio;
  }

  /** Forgets the portfolio subscription (there is no server event: pushes still come to every
   * socket of the user); it is not sent again after a reconnect. */
  unsubscribePortfolio(): void {
    this.wanted.portfolio = false;
  }

  /** `subscribe:trades`: the 50 newest trades, newest first; `trade:executed` follows. Remembered. */
  async subscribeTrades(): Promise<TradeOut[]> {
    this.wanted.trades = true;
    if (!this.socket.connected) return unwrap((await this.awaitNextSync()).trades).trades;
    return (await this.subscribeNow('subscribe:trades')).trades;
  }

  /** Forgets the trades subscription (not sent again after a reconnect). */
  unsubscribeTrades(): void {
    this.wanted.trades = false;
  }

  /**
   * `subscribe:watchlist`: adds `symbols` (upper-cased, at most 50 per socket) and sets the
   * batch mode of all of them; resolves with their latest quotes. Remembered (symbols and batch)
   * unless the server refuses them (`VALIDATION_ERROR`, `UNKNOWN_SYMBOL`, `LIMIT_EXCEEDED`).
   * While disconnected: resolves with the quotes of the resubscription at the next connect.
   */
  async subscribeWatchlist(symbols: string[], options: WatchlistOptions = {}): Promise<Quote[]> {
    const requested = [...new Set(symbols.map((s) => s.toUpperCase()))];
    const added = requested.filter((s) => !this.wanted.watchlist.includes(s));
    const batchBefore = this.wanted.batch;
    this.wanted.watchlist.push(...added);
    this.wanted.batch = options.batch ?? false;
    try {
      if (!this.socket.connected) {
        const quotes = unwrap((await this.awaitNextSync()).watchlist).quotes;
        return quotes.filter((q) => requested.includes(q.symbol));
      }
      return (await this.subscribeNow('subscribe:watchlist', { symbols: requested, batch: this.wanted.batch })).quotes;
    } catch (error) {
      if (error instanceof TradewireError && !(error instanceof RateLimitedError) && !(error instanceof AckTimeoutError)) {
        this.wanted.watchlist = this.wanted.watchlist.filter((s) => !added.includes(s));
        this.wanted.batch = batchBefore;
      }
      throw error;
    }
  }

  /** `unsubscribe:watchlist`: resolves with what the socket still watches, sorted. While
   * disconnected only the remembered list changes. */
  async unsubscribeWatchlist(symbols: string[]): Promise<string[]> {
    const gone = new Set(symbols.map((s) => s.toUpperCase()));
    this.wanted.watchlist = this.wanted.watchlist.filter((s) => !gone.has(s));
    if (!this.socket.connected) return [...this.wanted.watchlist].sort();
    return (await this.subscribeNow('unsubscribe:watchlist', { symbols: [...gone] })).symbols;
  }

  /** `subscribe:ops` (administrators; others get `AckError` `FORBIDDEN`): this instance's
   * figures now; `ops:stats` every second. Remembered unless refused. */
  async subscribeOps(): Promise<OpsStats> {
    this.wanted.ops = true;
    try {
      if (!this.socket.connected) return unwrap((await this.awaitNextSync()).ops).stats;
      return (await this.subscribeNow('subscribe:ops')).stats;
    } catch (error) {
      if (error instanceof TradewireError && !(error instanceof RateLimitedError) && !(error instanceof AckTimeoutError)) {
        this.wanted.ops = false;
      }
      throw error;
    }
  }

  /** `unsubscribe:ops`: the `ops:stats` pushes stop. */
  async unsubscribeOps(): Promise<void> {
    this.wanted.ops = false;
    if (this.socket.connected) await this.subscribeNow('unsubscribe:ops');
  }

  /** Sends every remembered subscription again (after a connect) and reports the snapshots. */
  private async resubscribe(generation: number): Promise<void> {
    const w = this.wanted;
    const onRetry = (error: RateLimitedError) => this.dispatch('subscription_retry', error);
    const again = <E extends ClientEventName>(event: E, ...payload: PayloadArgs<E>) =>
      this.requestWithRetries(event, payload, this.rateLimitRetries, generation, onRetry);
    const jobs: { [K in keyof SyncOutcome]: Promise<unknown> } = {};
    if (w.portfolio) jobs.portfolio = again('subscribe:portfolio');
    if (w.trades) jobs.trades = again('subscribe:trades');
    if (w.watchlist.length > 0) {
      jobs.watchlist = again('subscribe:watchlist', { symbols: [...w.watchlist], batch: w.batch });
    }
    if (w.ops) jobs.ops = again('subscribe:ops');
    const keys = Object.keys(jobs) as (keyof SyncOutcome)[];
    const settled = await Promise.allSettled(keys.map((k) => jobs[k]));
    const outcome: Record<string, PromiseSettledResult<unknown>> = {};
    keys.forEach((k, i) => {
      outcome[k] = settled[i] as PromiseSettledResult<unknown>;
    });
    const result = outcome as SyncOutcome;
    if (generation !== this.generation) return; // a newer connection resubscribes for itself
    const snapshots: Resubscribed = {};
    if (result.portfolio?.status === 'fulfilled') snapshots.portfolio = result.portfolio.value.portfolio;
    if (result.trades?.status === 'fulfilled') snapshots.trades = result.trades.value.trades;
    if (result.watchlist?.status === 'fulfilled') snapshots.quotes = result.watchlist.value.quotes;
    if (result.ops?.status === 'fulfilled') snapshots.ops = result.ops.value.stats;
    for (const [key, r] of Object.entries(result) as [keyof SyncOutcome, PromiseSettledResult<unknown>][]) {
      if (r.status !== 'rejected') continue;
      const reason: unknown = r.reason;
      // What the server will never take is forgotten; the rest is tried at the next connect.
      if (reason instanceof UnknownSymbolError) {
        this.wanted.watchlist = this.wanted.watchlist.filter((s) => !reason.symbols.includes(s));
      } else if (key === 'ops' && reason instanceof TradewireError && (reason as { code?: string }).code === 'FORBIDDEN') {
        this.wanted.ops = false;
      }
      this.dispatch('subscription_error', reason instanceof TradewireError ? reason : new TradewireError(String(reason)));
    }
    const waiting = this.nextSync;
    this.nextSync = null;
    waiting?.resolve(result);
    this.dispatch('resubscribed', snapshots);
  }
}

function isNumbered(payload: unknown): payload is { seq: number; epoch: string } {
  const p = payload as { seq?: unknown; epoch?: unknown } | null;
  return typeof p === 'object' && p !== null && typeof p.seq === 'number' && typeof p.epoch === 'string';
}
