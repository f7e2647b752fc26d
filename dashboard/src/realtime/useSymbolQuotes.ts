/**
 * useSymbolQuotes: live quotes of one symbol in the QuoteBoard, whether or not it is on the
 * watchlist (the symbol page). While the socket is live the symbol is subscribed (batch mode,
 * like the watchlist), again after every reconnect, and unsubscribed on leaving unless the
 * watchlist has it. When the socket cannot take it (polling, or its 50 symbols are used) the
 * quote is fetched over REST every POLL_INTERVAL_MS instead.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { DashboardStore } from './dashboardStore';
import { type AppSocket, request } from './subscriptions';
import type { ConnectionState } from './useWebSocket';
import { POLL_INTERVAL_MS } from './usePolling';

export function useSymbolQuotes(
  store: DashboardStore,
  socket: AppSocket | null,
  state: ConnectionState,
  symbol: string,
): void {
  const [refused, setRefused] = useState<string | null>(null); // the symbol the socket refused
  const live = state === 'live' && socket !== null;

  useEffect(() => {
    if (!live) return;
    let cancelled = false;
    request(socket, 'subscribe:watchlist', { symbols: [symbol], batch: true })
      .then((ack) => {
        if (cancelled) return;
        setRefused(null);
        store.quotes.push(ack.quotes);
      })
      .catch(() => {
        if (!cancelled) setRefused(symbol);
      });
    return () => {
      cancelled = true;
      const watched = store.getState().watchlist ?? [];
      if (socket.connected && !watched.includes(symbol)) {
        request(socket, 'unsubscribe:watchlist', { symbols: [symbol] }).catch(() => undefined);
      }
    };
  }, [live, socket, symbol, store]);

  const poll = state === 'polling' || (live && refused === symbol);
  useEffect(() => {
    if (!poll) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const loop = async () => {
      try {
        store.quotes.push(await api.quotes([symbol]));
      } catch {
        // the next round retries
      }
      if (!cancelled) timer = setTimeout(() => void loop(), POLL_INTERVAL_MS);
    };
    void loop();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [poll, symbol, store]);
}
