/**
 * The signed-in user's live data, fed by two sources that never run at once: the socket (acks of
 * the subscriptions after every (re)connect, then pushed events) or the REST poller (fallback).
 * Components read it with `useStoreValue`; quotes live in the `QuoteBoard` beside it, which
 * applies them once per animation frame.
 */
import { useSyncExternalStore } from 'react';
import type { OrderOut, Portfolio, TradeOut } from '../api/types';
import { QuoteBoard } from './quoteBoard';

const MAX_TRADES = 50;

export interface StoreState {
  /** null until the first snapshot (loading). */
  portfolio: Portfolio | null;
  /** Newest first, at most 50. null until the first snapshot. */
  trades: TradeOut[] | null;
  /** null until loaded from GET /api/watchlist. */
  watchlist: string[] | null;
  openOrders: OrderOut[] | null;
}

type Listener = () => void;

function time(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}

export class DashboardStore {
  readonly quotes: QuoteBoard;
  private state: StoreState = { portfolio: null, trades: null, watchlist: null, openOrders: null };
  private listeners = new Set<Listener>();
  private newTradeListeners = new Set<(trade: TradeOut) => void>();
  private watchlistWaiters: ((symbols: string[]) => void)[] = [];

  constructor(quotes: QuoteBoard = new QuoteBoard()) {
    this.quotes = quotes;
  }

  getState = (): StoreState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private update(patch: Partial<StoreState>): void {
    this.state = { ...this.state, ...patch };
    this.listeners.forEach((listener) => {
      listener();
    });
  }

  /** Takes a snapshot unless it is older than the one shown (`asOf`): an ack and a pushed
   * update can cross on the wire after a reconnect. */
  setPortfolio(portfolio: Portfolio): void {
    const current = this.state.portfolio;
    if (current && current.userId === portfolio.userId && time(portfolio.asOf) < time(current.asOf)) {
      return;
    }
    this.update({ portfolio });
  }

  /**
   * Merges a list of trades (an ack or a poll) with what is shown, newest first, deduplicated
   * by id. With `announce`, trades not seen before are reported to `onNewTrade` listeners —
   * how the poller raises the same toasts the socket's `trade:executed` does.
   */
  mergeTrades(trades: readonly TradeOut[], options: { announce?: boolean } = {}): void {
    const previous = this.state.trades;
    const known = new Set(previous?.map((t) => t.tradeId));
    const byId = new Map<number, TradeOut>();
    for (const t of previous ?? []) byId.set(t.tradeId, t);
    for (const t of trades) byId.set(t.tradeId, t);
    const merged = [...byId.values()].sort((a, b) => b.tradeId - a.tradeId).slice(0, MAX_TRADES);
    this.update({ trades: merged });
    if (options.announce && previous !== null) {
      const fresh = trades.filter((t) => !known.has(t.tradeId)).sort((a, b) => a.tradeId - b.tradeId);
      for (const t of fresh) this.newTradeListeners.forEach((listener) => {
        listener(t);
      });
    }
  }

  /** A live `trade:executed`. */
  addTrade(trade: TradeOut): void {
    this.mergeTrades([trade]);
  }

  onNewTrade(listener: (trade: TradeOut) => void): () => void {
    this.newTradeListeners.add(listener);
    return () => this.newTradeListeners.delete(listener);
  }

  setWatchlist(symbols: string[]): void {
    const previous = this.state.watchlist ?? [];
    for (const symbol of previous) if (!symbols.includes(symbol)) this.quotes.remove(symbol);
    this.update({ watchlist: symbols });
    const waiters = this.watchlistWaiters;
    this.watchlistWaiters = [];
    waiters.forEach((resolve) => {
      resolve(symbols);
    });
  }

  /** The watchlist once it has been loaded. */
  watchlistReady(): Promise<string[]> {
    const current = this.state.watchlist;
    if (current !== null) return Promise.resolve(current);
    return new Promise((resolve) => this.watchlistWaiters.push(resolve));
  }

  setOpenOrders(orders: OrderOut[]): void {
    this.update({ openOrders: orders });
  }

  dispose(): void {
    this.quotes.dispose();
    this.listeners.clear();
    this.newTradeListeners.clear();
  }
}

export function useStoreValue<T>(store: DashboardStore, select: (state: StoreState) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.getState()));
}
