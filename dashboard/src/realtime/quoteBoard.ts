/**
 * The latest quote per watched symbol, applied to the screen at most once per animation frame.
 *
 * Quotes arrive in bursts (a `quotes:update` batch every few tens of ms, or a REST poll). They are
 * collected in `pending` — a plain map, no React state — and one requestAnimationFrame callback
 * applies them all, then notifies only the rows whose symbol changed. With 50 symbols ticking
 * 10 times a second that is at most one render of each changed row per frame, however many
 * quotes came in between.
 */
import type { Quote } from '../api/types';
import { compareDecimal } from '../lib/decimal';

export type TickDirection = 'up' | 'down' | 'flat';

/** What a watchlist row shows: the quote, which way `last` moved, and a counter that changes
 * on every up/down tick so the row can restart its flash animation. */
export interface QuoteRow {
  quote: Quote;
  direction: TickDirection;
  flash: number;
}

type Listener = () => void;

export interface FrameScheduler {
  request(callback: () => void): number;
  cancel(handle: number): void;
}

const animationFrames: FrameScheduler = {
  request: (cb) => requestAnimationFrame(cb),
  cancel: (h) => cancelAnimationFrame(h),
};

export class QuoteBoard {
  private rows = new Map<string, QuoteRow>();
  private pending = new Map<string, Quote>();
  private frame: number | null = null;
  private symbolListeners = new Map<string, Set<Listener>>();
  private frameListeners = new Set<(applied: number) => void>();
  private readonly frames: FrameScheduler;

  constructor(frames: FrameScheduler = animationFrames) {
    this.frames = frames;
  }

  /** Queues quotes for the next frame. Older quotes of a symbol (lower `seq`) are dropped. */
  push(quotes: readonly Quote[]): void {
    for (const quote of quotes) {
      const queued = this.pending.get(quote.symbol) ?? this.rows.get(quote.symbol)?.quote;
      if (queued && queued.seq > quote.seq && queued.ts >= quote.ts) continue;
      this.pending.set(quote.symbol, quote);
    }
    if (this.pending.size > 0 && this.frame === null) {
      this.frame = this.frames.request(() => {
        this.flush();
      });
    }
  }

  /** Applies everything queued now (the frame callback; tests call it directly). */
  flush(): void {
    if (this.frame !== null) {
      this.frames.cancel(this.frame);
      this.frame = null;
    }
    if (this.pending.size === 0) return;
    const changed: string[] = [];
    for (const [symbol, quote] of this.pending) {
      const previous = this.rows.get(symbol);
      if (previous?.quote === quote) continue;
      let direction: TickDirection = previous?.direction ?? 'flat';
      let flash = previous?.flash ?? 0;
      if (previous) {
        const cmp = compareDecimal(quote.last, previous.quote.last);
        if (cmp !== 0) {
          direction = cmp > 0 ? 'up' : 'down';
          flash += 1;
        }
      }
      this.rows.set(symbol, { quote, direction, flash });
      changed.push(symbol);
    }
    this.pending.clear();
    for (const symbol of changed) {
      this.symbolListeners.get(symbol)?.forEach((listener) => {
        listener();
      });
    }
    this.frameListeners.forEach((listener) => {
      listener(changed.length);
    });
  }

  row(symbol: string): QuoteRow | undefined {
    return this.rows.get(symbol);
  }

  latest(symbol: string): Quote | undefined {
    return this.pending.get(symbol) ?? this.rows.get(symbol)?.quote;
  }

  /** Forgets a symbol (removed from the watchlist). */
  remove(symbol: string): void {
    this.pending.delete(symbol);
    if (this.rows.delete(symbol)) {
      this.symbolListeners.get(symbol)?.forEach((listener) => {
        listener();
      });
    }
  }

  subscribeSymbol(symbol: string, listener: Listener): () => void {
    let set = this.symbolListeners.get(symbol);
    if (!set) {
      set = new Set();
      this.symbolListeners.set(symbol, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.symbolListeners.delete(symbol);
    };
  }

  /** Called after each applied frame with the number of rows changed (instrumentation). */
  onFrame(listener: (applied: number) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  dispose(): void {
    if (this.frame !== null) this.frames.cancel(this.frame);
    this.frame = null;
    this.pending.clear();
  }
}
