/**
 * useWebSocket: owns the tab's one real-time connection, a `TradewireClient` of the SDK
 * (@tradewire/client, clients/js); only WebSocketProvider calls it.
 *
 * The SDK does the protocol: the handshake authenticated by the HttpOnly `tw_session` cookie (no
 * session id in any script-readable place), the resubscription of portfolio, trades and the
 * watchlist after every (re)connect, the back-off after a server-side disconnect or a refused
 * handshake (docs/WEBSOCKET.md, "Reconnecting"), rate-limited subscriptions sent again after
 * `retryAfterMs`, the `latency:ping` answer. This hook adds what the page needs:
 * - `status.state` follows the real connection: connecting -> live; a drop -> reconnecting with
 *   the attempt number (or offline while the browser says it has no network); unauthorized when
 *   the handshake is refused; polling after `pollAfterFailures` failed connects in a row (not
 *   counting those while offline) or when real time is disabled — socket.io then keeps
 *   retrying, only slower;
 * - the store re-synced from every resubscription's snapshots, and the pushes applied to it;
 * - `status.recovered`: the last connect was socket.io's connection-state recovery (the server
 *   replayed the missed fills as pushes); after any other reconnect the SDK reports what the user
 *   missed (`onMissed`, from GET /api/events) for the "while you were away" line;
 * - listeners registered once per client (never per connect), removed on unmount, then closed.
 */
import { type Missed, TradewireClient, UnauthorizedError } from '@tradewire/client';
import { useEffect, useRef, useState } from 'react';
import type { DashboardStore } from './dashboardStore';
import { type AppSocket, subscribeWatchlist } from './subscriptions';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'unauthorized' | 'polling';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Reconnection attempts since the connection was last live (0 when live). */
  attempt: number;
  /** Live after a connection-state recovery: nothing was lost, the missed events were replayed. */
  recovered?: boolean;
}

export interface Backoff {
  /** First retry delay (ms); doubles per attempt up to `delayMax`. */
  delay: number;
  delayMax: number;
  /** 0..1: each delay is randomized by ± this fraction so clients do not retry in lockstep. */
  randomization: number;
}

export interface UseWebSocketOptions {
  store: DashboardStore;
  /** From GET /api/config; `false` means never open a socket (polling), `null` not known yet. */
  realtimeEnabled: boolean | null;
  socketPath?: string;
  onUnauthorized?: () => void;
  /** Subscriptions whose acks failed (logged or toasted by the caller). */
  onSyncError?: (error: unknown) => void;
  /** After a reconnect that was not recovered: the user's events while the tab was away. */
  onMissed?: (missed: Missed) => void;
  /** Failed connects in a row after which the data is polled over REST. */
  pollAfterFailures?: number;
  backoff?: Backoff;
  /** Back-off while polling: the socket is still tried now and then. */
  pollingBackoff?: Backoff;
}

export const CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_BACKOFF: Backoff = { delay: 1000, delayMax: 5000, randomization: 0.5 };
export const POLLING_BACKOFF: Backoff = { delay: 10_000, delayMax: 30_000, randomization: 0.5 };

export function isUnauthorizedError(error: unknown): boolean {
  if (error instanceof UnauthorizedError) return true;
  if (!(error instanceof Error)) return false;
  const data = (error as Error & { data?: { code?: unknown } }).data;
  return error.message === 'unauthorized' || data?.code === 'UNAUTHORIZED';
}

/** `base * 2^(attempt-1)` capped, randomized by ± randomization (as socket.io's Backoff). */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.delayMax, backoff.delay * 2 ** Math.max(0, attempt - 1));
  const jitter = (random() * 2 - 1) * backoff.randomization * base;
  return Math.max(0, Math.round(base + jitter));
}

function applyBackoff(socket: AppSocket, backoff: Backoff): void {
  socket.io.reconnectionDelay(backoff.delay);
  socket.io.reconnectionDelayMax(backoff.delayMax);
  socket.io.randomizationFactor(backoff.randomization);
}

function isBrowserOffline(): boolean {
  return typeof navigator !== 'undefined' && !navigator.onLine;
}

export interface WebSocketHandle {
  /** The SDK's client: subscriptions made through it are sent again after every reconnect. */
  client: TradewireClient | null;
  /** Its socket.io socket, for the pages that listen to pushes or send their own events. */
  socket: AppSocket | null;
  status: ConnectionStatus;
  /** Tries to connect now instead of at the end of the current back-off (no-op when connected
   * or refused as unauthorized). The poller calls it when the REST API answers again. */
  reconnectNow: () => void;
}

export function useWebSocket(options: UseWebSocketOptions): WebSocketHandle {
  const {
    store,
    realtimeEnabled,
    socketPath = '/socket.io',
    pollAfterFailures = 5,
    backoff = DEFAULT_BACKOFF,
    pollingBackoff = POLLING_BACKOFF,
  } = options;
  const [client, setClient] = useState<TradewireClient | null>(null);
  const [status, setStatus] = useState<ConnectionStatus>({ state: 'connecting', attempt: 0 });

  // Latest callbacks without re-running the effect (which would make a new client).
  const callbacks = useRef(options);
  useEffect(() => {
    callbacks.current = options;
  });
  const backoffRef = useRef({ backoff, pollingBackoff, pollAfterFailures });
  const reconnectRef = useRef<() => void>(() => undefined);
  const [reconnectNow] = useState(() => () => {
    reconnectRef.current();
  });

  useEffect(() => {
    if (realtimeEnabled !== true) return;
    const { backoff: normal, pollingBackoff: slow, pollAfterFailures: maxFailures } = backoffRef.current;

    // No session id: in the browser the HttpOnly cookie authenticates the handshake.
    const c = new TradewireClient({
      path: socketPath,
      transports: ['websocket', 'polling'],
      // A handshake that has not completed by then counts as a failed connect (a proxy that
      // accepts the WebSocket and never answers would otherwise stall the retries).
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      backoff: { initialMs: normal.delay },
      socketOptions: {
        reconnectionDelay: normal.delay,
        reconnectionDelayMax: normal.delayMax,
        randomizationFactor: normal.randomization,
      },
    });
    const s = c.socket;

    let everConnected = false;
    let failures = 0; // failed connects in a row
    let attempt = 0;
    let polling = false;
    let unauthorized = false;

    const publish = (state: ConnectionState) => {
      setStatus(state === 'live' && c.recovered ? { state, attempt, recovered: true } : { state, attempt });
    };
    const waitingState = (): ConnectionState => {
      if (isBrowserOffline()) return 'offline'; // neither the socket nor polling can work
      if (polling) return 'polling';
      return everConnected ? 'reconnecting' : 'connecting';
    };
    const reportSyncError = (error: unknown) => {
      callbacks.current.onSyncError?.(error);
    };

    const offs = [
      c.on('connect', () => {
        everConnected = true;
        failures = 0;
        attempt = 0;
        if (polling) {
          polling = false;
          applyBackoff(s, normal);
        }
        publish('live');
      }),
      c.on('resubscribed', (snapshot) => {
        if (snapshot.portfolio) store.setPortfolio(snapshot.portfolio);
        if (snapshot.trades) store.mergeTrades(snapshot.trades);
        if (snapshot.quotes) store.quotes.push(snapshot.quotes);
      }),
      c.on('missed', (missed) => {
        callbacks.current.onMissed?.(missed);
      }),
      c.on('subscription_error', reportSyncError),
      c.on('subscription_retry', reportSyncError), // rate limited: the toast
      c.on('disconnect', (reason) => {
        publish(reason === 'io client disconnect' ? 'offline' : waitingState());
      }),
      c.on('unauthorized', () => {
        unauthorized = true;
        publish('unauthorized');
        callbacks.current.onUnauthorized?.();
      }),
      c.on('connect_error', (error) => {
        if (error instanceof UnauthorizedError) return; // 'unauthorized' follows
        // Failures while the device is offline say nothing about the socket: not counted.
        if (!isBrowserOffline()) failures += 1;
        if (!polling && failures >= maxFailures) {
          polling = true;
          applyBackoff(s, slow);
        }
        publish(waitingState());
      }),
      c.on('reconnect_attempt', (n) => {
        attempt = Math.max(attempt + 1, n);
        publish(waitingState());
      }),
      c.on('portfolio:update', (portfolio) => {
        store.setPortfolio(portfolio);
      }),
      c.on('trade:executed', (trade) => {
        store.addTrade(trade);
      }),
      c.on('quotes:update', (batch) => {
        store.quotes.push(batch.quotes);
      }),
      c.on('quote:update', (quote) => {
        store.quotes.push([quote]);
      }),
    ];

    // Subscribed once: the client sends them with its first connect and after every reconnect.
    c.subscribePortfolio().catch(() => undefined); // failures arrive as subscription_error
    c.subscribeTrades().catch(() => undefined);
    let disposed = false;
    void store.watchlistReady().then((symbols) => {
      if (disposed || symbols.length === 0) return;
      const connectedNow = c.connected;
      subscribeWatchlist(c, symbols).then(
        (quotes) => {
          // while disconnected the quotes come with the next connect's `resubscribed`
          if (connectedNow) store.quotes.push(quotes);
        },
        (error: unknown) => {
          if (connectedNow) reportSyncError(error);
        },
      );
    });

    const onBrowserOffline = () => {
      if (!s.connected) publish(waitingState());
    };
    /** Retry now rather than at the end of the current back-off. */
    const connectNow = () => {
      if (s.connected || unauthorized) return;
      s.disconnect();
      attempt += 1;
      publish(waitingState());
      c.connect().catch(() => undefined);
    };
    const onBrowserOnline = connectNow;
    reconnectRef.current = connectNow;
    window.addEventListener('offline', onBrowserOffline);
    window.addEventListener('online', onBrowserOnline);

    // The client is an external system created here; publishing it (and its first state) from
    // the effect is the point of the effect.
    setClient(c);
    setStatus({ state: 'connecting', attempt: 0 });
    c.connect().catch(() => undefined); // refusals arrive as events

    return () => {
      disposed = true;
      reconnectRef.current = () => undefined;
      window.removeEventListener('offline', onBrowserOffline);
      window.removeEventListener('online', onBrowserOnline);
      for (const off of offs) off();
      c.dispose();
      setClient(null);
    };
  }, [realtimeEnabled, socketPath, store]);

  if (realtimeEnabled === false) return { client: null, socket: null, status: POLLING_ONLY, reconnectNow };
  if (realtimeEnabled === null) return { client: null, socket: null, status: WAITING_FOR_CONFIG, reconnectNow };
  return { client, socket: client?.socket ?? null, status, reconnectNow };
}

const POLLING_ONLY: ConnectionStatus = { state: 'polling', attempt: 0 };
const WAITING_FOR_CONFIG: ConnectionStatus = { state: 'connecting', attempt: 0 };
