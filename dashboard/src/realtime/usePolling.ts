/**
 * REST fallback: while `active`, refreshes portfolio, the watchlist's quotes, trades and open
 * orders every `intervalMs`, writing into the same store the socket feeds. New trades found by a
 * poll are announced (store.onNewTrade), so toasts still appear without a socket.
 */
import { useEffect, useRef } from 'react';
import { api } from '../api/client';
import type { DashboardStore } from './dashboardStore';

export const POLL_INTERVAL_MS = 2000;

/** One round of REST refreshes; true when the API answered (the portfolio at least). */
export async function pollOnce(store: DashboardStore): Promise<boolean> {
  let symbols = store.getState().watchlist;
  if (symbols === null) {
    symbols = (await api.watchlist()).symbols;
    store.setWatchlist(symbols);
  }
  const jobs: Promise<void>[] = [
    api.portfolio().then((p) => {
      store.setPortfolio(p);
    }),
    api.trades(50).then((t) => {
      store.mergeTrades(t, { announce: true });
    }),
    api.openOrders().then((o) => {
      store.setOpenOrders(o);
    }),
  ];
  if (symbols.length > 0) {
    jobs.push(
      api.quotes(symbols).then((q) => {
        store.quotes.push(q);
      }),
    );
  }
  const results = await Promise.allSettled(jobs);
  return results[0]?.status === 'fulfilled';
}

/**
 * `onRecovered` is called after the first poll that reached the API, and after every one that
 * did following one that did not: the service is (back) up, so the socket is worth a try now
 * rather than at the end of its slow polling back-off (a restarted server, not a blocked
 * WebSocket, is the common reason the socket failed).
 */
export function usePolling(
  store: DashboardStore,
  active: boolean,
  onRecovered: () => void = () => undefined,
  intervalMs = POLL_INTERVAL_MS,
): void {
  const recovered = useRef(onRecovered);
  useEffect(() => {
    recovered.current = onRecovered;
  });

  useEffect(() => {
    if (!active) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let reachable: boolean | null = null;
    // Sequential, not setInterval: a slow network never stacks polls on top of each other.
    const loop = async () => {
      let ok = false;
      try {
        ok = await pollOnce(store);
      } catch {
        // a failed poll is retried at the next tick; 401s are handled by the API client
      }
      if (cancelled) return;
      if (ok && reachable !== true) recovered.current();
      reachable = ok;
      timer = setTimeout(() => void loop(), intervalMs);
    };
    void loop();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [store, active, intervalMs]);
}
