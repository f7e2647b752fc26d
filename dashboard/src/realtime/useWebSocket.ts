/**
 * useWebSocket: owns the tab's one Socket.IO connection (only WebSocketProvider calls it).
 *
 * What it guarantees:
 * - one socket for the life of the component (`forceNew`, so no manager is shared or reused);
 * - `status.state` follows the real connection: connecting -> live; a drop -> reconnecting with
 *   the attempt number (or offline while the browser says it has no network); unauthorized when
 *   the handshake is refused; polling after `pollAfterFailures` failed connects in a row (not
 *   counting those while offline) or when real time is disabled — the socket then keeps
 *   retrying, only slower;
 * - randomized exponential back-off (socket.io's reconnectionDelay / randomizationFactor), and the
 *   same after a server-side disconnect, which socket.io does not retry by itself (after
 *   `server:shutdown` the wait is the server's `reconnectAfterMs`, plus jitter);
 * - after every (re)connect, resubscription and re-sync of the store from the acks;
 * - listeners registered once per socket (never per connect), removed on unmount, then closed.
 */
import { useEffect, useRef, useState } from 'react';
import { io } from 'socket.io-client';
import type { ShutdownNotice } from '../api/types';
import { getSessionId } from '../auth/session';
import type { DashboardStore } from './dashboardStore';
import { AckError, type AppSocket, resubscribe } from './subscriptions';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'unauthorized' | 'polling';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Reconnection attempts since the connection was last live (0 when live). */
  attempt: number;
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
  const [socket, setSocket] = useState<AppSocket | null>(null);
  const [status, setStatus] = useState<ConnectionStatus>({ state: 'connecting', attempt: 0 });

  // Latest callbacks without re-running the effect (which would make a new socket).
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

    const s: AppSocket = io({
      path: socketPath,
      // A function: read at every handshake, so a reconnect uses the current session.
      auth: (cb) => {
        cb({ sessionId: getSessionId() });
      },
      transports: ['websocket', 'polling'],
      forceNew: true,
      autoConnect: false,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: normal.delay,
      reconnectionDelayMax: normal.delayMax,
      randomizationFactor: normal.randomization,
      // A handshake that has not completed by then counts as a failed connect (a proxy that
      // accepts the WebSocket and never answers would otherwise stall the retries).
      timeout: CONNECT_TIMEOUT_MS,
    });

    let everConnected = false;
    let failures = 0; // failed connects in a row
    let attempt = 0;
    let polling = false;
    let unauthorized = false;
    let shutdownDelay: number | null = null;
    let manualTimer: ReturnType<typeof setTimeout> | null = null;
    let syncRetry: ReturnType<typeof setTimeout> | null = null;

    const publish = (state: ConnectionState) => {
      setStatus({ state, attempt });
    };
    const waitingState = (): ConnectionState => {
      if (isBrowserOffline()) return 'offline'; // neither the socket nor polling can work
      if (polling) return 'polling';
      return everConnected ? 'reconnecting' : 'connecting';
    };
    const clearManual = () => {
      if (manualTimer !== null) clearTimeout(manualTimer);
      manualTimer = null;
    };
    /** Reconnects by hand: socket.io does not after a server-side disconnect. */
    const scheduleManualConnect = (delay: number) => {
      clearManual();
      manualTimer = setTimeout(() => {
        manualTimer = null;
        if (s.connected || unauthorized) return;
        attempt += 1;
        publish(waitingState());
        s.connect();
      }, delay);
    };

    const onConnect = () => {
      clearManual();
      everConnected = true;
      failures = 0;
      attempt = 0;
      shutdownDelay = null;
      if (polling) {
        polling = false;
        applyBackoff(s, normal);
      }
      publish('live');
      sync();
    };
    /** Resubscribes; a subscription refused as rate limited is tried again once it may be. */
    const sync = () => {
      void resubscribe(s, store, (error) => {
        callbacks.current.onSyncError?.(error);
        if (error instanceof AckError && error.code === 'RATE_LIMITED' && syncRetry === null) {
          syncRetry = setTimeout(() => {
            syncRetry = null;
            if (s.connected) sync();
          }, Math.max(250, error.retryAfterMs ?? 1000));
        }
      });
    };
    const onDisconnect = (reason: string) => {
      if (reason === 'io client disconnect') {
        publish('offline');
        return;
      }
      if (reason === 'io server disconnect') {
        const delay = shutdownDelay ?? normal.delay;
        shutdownDelay = null;
        scheduleManualConnect(backoffDelay({ ...normal, delay, delayMax: Math.max(delay, normal.delayMax) }, 1));
      }
      publish(waitingState());
    };
    const onConnectError = (error: Error) => {
      if (isUnauthorizedError(error)) {
        unauthorized = true;
        clearManual();
        publish('unauthorized');
        s.disconnect();
        callbacks.current.onUnauthorized?.();
        return;
      }
      // Failures while the device is offline say nothing about the socket: not counted.
      if (!isBrowserOffline()) failures += 1;
      if (!polling && failures >= maxFailures) {
        polling = true;
        applyBackoff(s, slow);
      }
      // A refusal by the namespace (not a transport failure) is not retried by socket.io.
      if (!s.active) scheduleManualConnect(backoffDelay(polling ? slow : normal, failures));
      publish(waitingState());
    };
    const onReconnectAttempt = (n: number) => {
      attempt = Math.max(attempt + 1, n);
      publish(waitingState());
    };
    const onShutdown = (notice: ShutdownNotice) => {
      shutdownDelay = Math.max(0, notice.reconnectAfterMs);
    };
    const onBrowserOffline = () => {
      if (!s.connected) publish(waitingState());
    };
    /** Retry now rather than at the end of the current back-off. */
    const connectNow = () => {
      if (s.connected || unauthorized) return;
      clearManual();
      s.disconnect();
      attempt += 1;
      publish(waitingState());
      s.connect();
    };
    const onBrowserOnline = connectNow;
    reconnectRef.current = connectNow;

    s.on('connect', onConnect);
    s.on('disconnect', onDisconnect);
    s.on('connect_error', onConnectError);
    s.on('server:shutdown', onShutdown);
    s.on('portfolio:update', (portfolio) => {
      store.setPortfolio(portfolio);
    });
    s.on('trade:executed', (trade) => {
      store.addTrade(trade);
    });
    s.on('quotes:update', (batch) => {
      store.quotes.push(batch.quotes);
    });
    s.on('quote:update', (quote) => {
      store.quotes.push([quote]);
    });
    // The server's round-trip probe (ops page figures): answered at once, whatever the page.
    s.on('latency:ping', (_ping, ack) => {
      if (typeof ack === 'function') ack({});
    });
    s.io.on('reconnect_attempt', onReconnectAttempt);
    window.addEventListener('offline', onBrowserOffline);
    window.addEventListener('online', onBrowserOnline);

    // The socket is an external system created here; publishing it (and its first state) from
    // the effect is the point of the effect.
    setSocket(s);
    setStatus({ state: 'connecting', attempt: 0 });
    s.connect();

    return () => {
      reconnectRef.current = () => undefined;
      clearManual();
      if (syncRetry !== null) clearTimeout(syncRetry);
      window.removeEventListener('offline', onBrowserOffline);
      window.removeEventListener('online', onBrowserOnline);
      s.io.off('reconnect_attempt', onReconnectAttempt);
      s.removeAllListeners();
      s.disconnect();
      setSocket(null);
    };
  }, [realtimeEnabled, socketPath, store]);

  if (realtimeEnabled === false) return { socket: null, status: POLLING_ONLY, reconnectNow };
  if (realtimeEnabled === null) return { socket: null, status: WAITING_FOR_CONFIG, reconnectNow };
  return { socket, status, reconnectNow };
}

const POLLING_ONLY: ConnectionStatus = { state: 'polling', attempt: 0 };
const WAITING_FOR_CONFIG: ConnectionStatus = { state: 'connecting', attempt: 0 };
