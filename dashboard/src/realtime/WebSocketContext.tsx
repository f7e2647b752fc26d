/**
 * WebSocketProvider: the signed-in part of the app's real-time layer. It owns
 * - the tab's one connection, a TradewireClient of the SDK, and its state (useWebSocket),
 * - the DashboardStore every panel reads (portfolio, trades, watchlist, open orders, quotes),
 * - the REST polling fallback, active exactly while the state is "polling",
 * - the rollout: GET /api/config says whether real time is on for this user and is asked again
 *   while polling (useRealtimeConfig); a `realtime:disabled` push or a REALTIME_DISABLED
 *   refusal turns the socket off and polling on, until the config says yes again,
 * - the watchlist actions (persisted with PUT /api/watchlist, then (un)subscribed live),
 * - `away`: what the user missed while the tab was disconnected and the server could not
 *   recover the socket (the SDK's `missed`), for the "N fills while you were away" line.
 * Components reach all of it with useRealtime().
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { api, ApiError } from '../api/client';
import type { ConfigOut, SymbolOut } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { notifyRateLimited } from '../components/notify';
import { DashboardStore } from './dashboardStore';
import type { Missed, TradewireClient } from '@tradewire/client';
import { type AppSocket, RateLimitedError, subscribeWatchlist, unsubscribeWatchlist } from './subscriptions';
import { usePolling } from './usePolling';
import { useRealtimeConfig } from './useRealtimeConfig';
import { type ConnectionStatus, useWebSocket, type UseWebSocketOptions } from './useWebSocket';

export interface RealtimeValue {
  /** The SDK's client (null while there is none: polling, or no config yet). */
  client: TradewireClient | null;
  socket: AppSocket | null;
  status: ConnectionStatus;
  store: DashboardStore;
  config: ConfigOut | null;
  /** Tradable symbols (for pickers); empty until loaded. */
  symbols: SymbolOut[];
  addToWatchlist: (symbol: string) => Promise<void>;
  removeFromWatchlist: (symbol: string) => Promise<void>;
  refreshOpenOrders: () => Promise<void>;
  /** The events missed during the last unrecovered disconnect, until dismissed. */
  away: Missed | null;
  dismissAway: () => void;
}

export const WebSocketContext = createContext<RealtimeValue | null>(null);

export class WatchlistError extends Error {
  override name = 'WatchlistError';
}

export function WebSocketProvider({
  children,
  connection,
  configRecheckMs,
}: {
  children: ReactNode;
  /** Overrides for tests (back-off, failure threshold). */
  connection?: Partial<Pick<UseWebSocketOptions, 'backoff' | 'pollingBackoff' | 'pollAfterFailures'>>;
  /** How often the polling dashboard asks GET /api/config whether real time is on again. */
  configRecheckMs?: number;
}) {
  const { expire } = useAuth();
  const [store] = useState(() => new DashboardStore());
  const { config, disable } = useRealtimeConfig(configRecheckMs);
  const [symbols, setSymbols] = useState<SymbolOut[]>([]);
  const [away, setAway] = useState<Missed | null>(null);
  const dismissAway = useCallback(() => {
    setAway(null);
  }, []);
  const onMissed = useCallback((missed: Missed) => {
    setAway((before) => (before ? { ...missed, events: [...before.events, ...missed.events], fills: before.fills + missed.fills } : missed));
  }, []);

  useEffect(() => () => {
    store.dispose();
  }, [store]);

  // The watchlist and the symbol list come from REST whatever the transport.
  useEffect(() => {
    let cancelled = false;
    api
      .watchlist()
      .then((w) => {
        if (!cancelled) store.setWatchlist(w.symbols);
      })
      .catch(() => {
        if (!cancelled && store.getState().watchlist === null) store.setWatchlist([]);
      });
    api
      .symbols()
      .then((list) => {
        if (!cancelled) setSymbols(list);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [store]);

  const onUnauthorized = useCallback(() => {
    expire();
  }, [expire]);
  const onSyncError = useCallback((error: unknown) => {
    if (error instanceof RateLimitedError) {
      notifyRateLimited('subscription', error.retryAfterMs);
    }
  }, []);

  const { client, socket, status, reconnectNow } = useWebSocket({
    store,
    realtimeEnabled: config ? config.realtimeEnabled : null,
    socketPath: config?.socketPath ?? '/socket.io',
    onUnauthorized,
    onSyncError,
    onMissed,
    ...connection,
  });

  usePolling(store, status.state === 'polling' && config !== null, reconnectNow);

  // The administrator turned real time off, or left this user outside the rollout.
  useEffect(() => {
    if (!socket) return;
    const onRefused = (error: Error) => {
      if (isRealtimeDisabledError(error)) disable();
    };
    socket.on('realtime:disabled', disable);
    socket.on('connect_error', onRefused);
    return () => {
      socket.off('realtime:disabled', disable);
      socket.off('connect_error', onRefused);
    };
  }, [socket, disable]);

  const refreshOpenOrders = useCallback(async () => {
    try {
      store.setOpenOrders(await api.openOrders());
    } catch {
      // shown as before; the next sync or poll retries
    }
  }, [store]);

  // Open orders have no event of their own: refresh them whenever the socket (re)connects
  // and whenever a trade executes (a limit order may have filled).
  useEffect(() => {
    if (status.state === 'live') void refreshOpenOrders();
  }, [status.state, refreshOpenOrders]);
  useEffect(() => {
    if (!socket) return;
    const onTrade = () => void refreshOpenOrders();
    socket.on('trade:executed', onTrade);
    return () => {
      socket.off('trade:executed', onTrade);
    };
  }, [socket, refreshOpenOrders]);

  const addToWatchlist = useCallback(
    async (raw: string) => {
      const symbol = raw.trim().toUpperCase();
      const current = store.getState().watchlist ?? [];
      if (!/^[A-Z.]{1,10}$/.test(symbol)) throw new WatchlistError(`“${raw}” is not a ticker symbol.`);
      if (current.includes(symbol)) throw new WatchlistError(`${symbol} is already on your watchlist.`);
      if (symbols.length > 0 && !symbols.some((s) => s.symbol === symbol)) {
        throw new WatchlistError(`Unknown symbol ${symbol}.`);
      }
      const max = config?.maxWatchlistSymbols ?? 50;
      if (current.length >= max) throw new WatchlistError(`A watchlist holds at most ${max} symbols.`);
      let saved: string[];
      try {
        saved = (await api.saveWatchlist([...current, symbol])).symbols;
      } catch (error) {
        if (error instanceof ApiError && error.status !== 429) throw new WatchlistError(error.message);
        throw error;
      }
      store.setWatchlist(saved);
      if (client?.connected) {
        store.quotes.push(await subscribeWatchlist(client, [symbol]));
      } else {
        // remembered by the client for its next connect; meanwhile the quote over REST
        if (client) void subscribeWatchlist(client, [symbol]).catch(() => undefined);
        store.quotes.push(await api.quotes([symbol]));
      }
    },
    [store, client, symbols, config],
  );

  const removeFromWatchlist = useCallback(
    async (symbol: string) => {
      const current = store.getState().watchlist ?? [];
      const saved = (await api.saveWatchlist(current.filter((s) => s !== symbol))).symbols;
      store.setWatchlist(saved);
      if (client) await unsubscribeWatchlist(client, [symbol]).catch(() => undefined);
    },
    [store, client],
  );

  const value = useMemo<RealtimeValue>(
    () => ({
      client,
      socket,
      status,
      store,
      config,
      symbols,
      addToWatchlist,
      removeFromWatchlist,
      refreshOpenOrders,
      away,
      dismissAway,
    }),
    [client, socket, status, store, config, symbols, addToWatchlist, removeFromWatchlist, refreshOpenOrders, away, dismissAway],
  );
  return <WebSocketContext.Provider value={value}>{children}</WebSocketContext.Provider>;
}

/** A handshake refused because real time is off for this user (docs/WEBSOCKET.md, Errors). */
export function isRealtimeDisabledError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const data = (error as Error & { data?: { code?: unknown } }).data;
  return error.message === 'realtime_disabled' || data?.code === 'REALTIME_DISABLED';
}

export function useRealtime(): RealtimeValue {
  const value = useContext(WebSocketContext);
  if (!value) throw new Error('useRealtime must be used inside <WebSocketProvider>');
  return value;
}
