/**
 * useLiveBars: one symbol's one-minute bars, loaded from the service and kept current with the
 * QuoteBoard's quotes of that symbol (the caller makes sure they arrive: the watchlist, or
 * useSymbolQuotes).
 *
 * - Loaded when the connection becomes usable (live or polling), so again after every reconnect:
 *   whatever happened while it was down comes from the service, and the reload replaces what is
 *   shown (no gap, no bar twice). Quotes that arrive while a load is out are applied on top of
 *   its answer (lib/bars `reloaded`). While polling, reloaded every RELOAD_WHILE_POLLING_MS.
 * - Each quote moves the newest bar or starts the next minute's (lib/bars `applyQuote`); with
 *   `correctOnRoll`, the minute that just ended is then fetched again, since live quotes are
 *   conflated and only the service saw every tick of it.
 */
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Bar, Quote } from '../api/types';
import { corrected, reloaded, withQuote } from '../lib/bars';
import { useRealtime } from './WebSocketContext';

export const RELOAD_WHILE_POLLING_MS = 30_000;

export interface LiveBars {
  bars: readonly Bar[];
  /** The first load has answered. */
  loaded: boolean;
  /** Loads answered so far (1 after the first; +1 per reconnect). */
  loads: number;
  /** The last load failed (the bars shown, if any, are kept). */
  failed: boolean;
}

interface Shown extends LiveBars {
  symbol: string;
}

const NONE: readonly Bar[] = [];

export function useLiveBars(symbol: string, limit: number, options: { correctOnRoll?: boolean } = {}): LiveBars {
  const { store, status } = useRealtime();
  const correctOnRoll = options.correctOnRoll ?? false;
  const [shown, setShown] = useState<Shown>({ symbol, bars: NONE, loaded: false, loads: 0, failed: false });
  const bars = useRef<readonly Bar[]>(NONE);
  // Quotes that arrived while a load is out; null when none is.
  const meanwhile = useRef<Quote[] | null>(null);
  const usable = status.state === 'live' || status.state === 'polling';
  const polling = status.state === 'polling';

  useEffect(() => {
    bars.current = NONE;
    meanwhile.current = null;
  }, [symbol]);

  useEffect(() => {
    if (!usable) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = () => {
      meanwhile.current = [];
      api
        .bars(symbol, limit)
        .then((out) => {
          if (cancelled) return;
          const next = reloaded(out.bars, meanwhile.current ?? []);
          meanwhile.current = null;
          bars.current = next;
          setShown((s) => ({ symbol, bars: next, loaded: true, loads: (s.symbol === symbol ? s.loads : 0) + 1, failed: false }));
        })
        .catch(() => {
          if (cancelled) return;
          const next = (meanwhile.current ?? []).reduce<readonly Bar[]>((b, q) => withQuote(b, q, limit), bars.current);
          meanwhile.current = null;
          bars.current = next;
          setShown((s) => ({ ...s, symbol, bars: next, failed: true }));
        })
        .finally(() => {
          if (!cancelled && polling) timer = setTimeout(load, RELOAD_WHILE_POLLING_MS);
        });
    };
    load();
    return () => {
      cancelled = true;
      meanwhile.current = null;
      if (timer !== null) clearTimeout(timer);
    };
  }, [usable, polling, symbol, limit]);

  useEffect(() => {
    let seen: Quote | undefined;
    let cancelled = false;
    const onQuote = () => {
      const quote = store.quotes.row(symbol)?.quote;
      if (!quote || quote === seen) return;
      seen = quote;
      if (meanwhile.current !== null) {
        meanwhile.current.push(quote);
        return;
      }
      const before = bars.current;
      const next = withQuote(before, quote, limit);
      if (next === before) return;
      bars.current = next;
      setShown((s) => ({ ...s, symbol, bars: next }));
      const rolled = before.length > 0 && next[next.length - 1]?.time !== before[before.length - 1]?.time;
      if (rolled && correctOnRoll) {
        api
          .bars(symbol, 3)
          .then((out) => {
            if (cancelled || meanwhile.current !== null) return;
            bars.current = corrected(bars.current, out.bars);
            setShown((s) => ({ ...s, symbol, bars: bars.current }));
          })
          .catch(() => undefined);
      }
    };
    const unsubscribe = store.quotes.subscribeSymbol(symbol, onQuote);
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, [store, symbol, limit, correctOnRoll]);

  if (shown.symbol !== symbol) return { bars: NONE, loaded: false, loads: 0, failed: false };
  return shown;
}
