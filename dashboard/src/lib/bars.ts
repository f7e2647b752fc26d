/**
 * One-minute bars on the client: the service's bars (GET /api/quotes/{symbol}/bars) kept current
 * with live quotes. Pure functions, no chart library: the charts convert at their edge.
 *
 * A quote is a tick of its `last` at its `ts`, in the bar of the UTC minute of `ts` (the rule
 * the service uses). A quote for the newest bar's minute updates it; one for a later minute
 * starts a bar; one for an earlier minute is ignored (a chart only moves its last bar; the next
 * reload from the service has it).
 */
import type { Bar, Portfolio, Quote, TradeOut } from '../api/types';
import { compareDecimal } from './decimal';

export const BAR_SECONDS = 60;
export const MAX_BARS = 480;

/** Start of the minute holding `tsMs` (epoch milliseconds), in UTC epoch seconds. */
export function barTime(tsMs: number): number {
  return Math.floor(tsMs / 1000 / BAR_SECONDS) * BAR_SECONDS;
}

export type BarUpdate =
  | { kind: 'update'; bar: Bar }
  | { kind: 'new'; bar: Bar }
  | { kind: 'stale' };

/** What `quote` does to a series whose newest bar is `last`. */
export function applyQuote(last: Bar | undefined, quote: Quote): BarUpdate {
  const time = barTime(quote.ts);
  const price = quote.last;
  if (!last || time > last.time) {
    return { kind: 'new', bar: { time, open: price, high: price, low: price, close: price, volume: 1 } };
  }
  if (time < last.time) return { kind: 'stale' };
  return {
    kind: 'update',
    bar: {
      time,
      open: last.open,
      high: compareDecimal(price, last.high) > 0 ? price : last.high,
      low: compareDecimal(price, last.low) < 0 ? price : last.low,
      close: price,
      volume: last.volume + 1,
    },
  };
}

/** `bars` (oldest first) with `quote` applied: the last bar replaced, or one appended (the
 * oldest dropped beyond `max`). The same array when the quote is stale. */
export function withQuote(bars: readonly Bar[], quote: Quote, max = MAX_BARS): readonly Bar[] {
  const outcome = applyQuote(bars[bars.length - 1], quote);
  if (outcome.kind === 'stale') return bars;
  if (outcome.kind === 'update') return [...bars.slice(0, -1), outcome.bar];
  const next = [...bars, outcome.bar];
  return next.length > max ? next.slice(next.length - max) : next;
}

/**
 * After a (re)load: the service's bars are the authority (they hold every tick, live quotes are
 * conflated), then the quotes that arrived while the request was out are applied again, so
 * nothing seen live is lost. High and low stay exact; a re-applied tick may count twice in
 * `volume`.
 */
export function reloaded(server: readonly Bar[], arrivedMeanwhile: readonly Quote[]): readonly Bar[] {
  return arrivedMeanwhile.reduce<readonly Bar[]>((bars, q) => withQuote(bars, q), server);
}

/**
 * Corrects finished bars with the service's (a minute just ended: its true high, low and
 * volume are the service's). Bars of `fresh` older than the local newest bar replace or fill in
 * local ones; the local newest bar (still live) is kept.
 */
export function corrected(local: readonly Bar[], fresh: readonly Bar[]): readonly Bar[] {
  const newest = local[local.length - 1];
  if (!newest) return fresh;
  const byTime = new Map(local.map((b) => [b.time, b]));
  for (const b of fresh) if (b.time < newest.time) byTime.set(b.time, b);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

// ---------------------------------------------------------------- fills on a chart

export interface FillMarker {
  time: number;
  side: 'buy' | 'sell';
  text: string;
  id: string;
}

/**
 * The user's fills of `symbol` as markers on `bars`: each at the bar holding its execution time
 * (or the latest bar before it, when that minute has no bar), oldest first; fills before the
 * first bar are left out.
 */
export function fillMarkers(trades: readonly TradeOut[], symbol: string, bars: readonly Bar[]): FillMarker[] {
  const first = bars[0];
  if (!first) return [];
  const times = bars.map((b) => b.time);
  const markers: FillMarker[] = [];
  for (const t of trades) {
    if (t.symbol !== symbol) continue;
    const at = barTime(Date.parse(t.executedAt));
    if (Number.isNaN(at) || at < first.time) continue;
    markers.push({
      time: latestAtOrBefore(times, at),
      side: t.side,
      text: `${t.side === 'buy' ? 'B' : 'S'} ${t.quantity}`,
      id: String(t.tradeId),
    });
  }
  return markers.sort((a, b) => a.time - b.time || Number(a.id) - Number(b.id));
}

/** The largest of `sorted` (ascending, non-empty) that is <= `time`, else the first. */
function latestAtOrBefore(sorted: readonly number[], time: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((sorted[mid] ?? Infinity) <= time) lo = mid;
    else hi = mid - 1;
  }
  return sorted[lo] ?? time;
}

// ---------------------------------------------------------------- sparkline

/** SVG polyline points for `values` in a `width` x `height` box (flat line when constant). */
export function sparklinePoints(values: readonly number[], width: number, height: number, pad = 1): string {
  if (values.length === 0) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min;
  const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  return values
    .map((v, i) => {
      const x = pad + i * step;
      const y = span === 0 ? height / 2 : pad + (1 - (v - min) / span) * (height - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

// ---------------------------------------------------------------- portfolio value

export interface ValuePoint {
  /** UTC epoch seconds. */
  time: number;
  value: number;
}

/**
 * The portfolio's value at the end of each minute the bars cover, worked back from the
 * portfolio now: a minute's cash and holdings are today's minus the trades executed after it,
 * its prices the closes of the held symbols' bars. `trades` must hold every trade since the
 * first bar used; with `fromTime`, minutes before it are left out (the caller's trade list is
 * complete from there on). A minute where a held symbol has no bar yet is left out too. Numbers
 * here are for drawing, not for money.
 */
export function portfolioHistory(
  portfolio: Portfolio,
  trades: readonly TradeOut[],
  barsBySymbol: Readonly<Record<string, readonly Bar[]>>,
  fromTime = -Infinity,
): ValuePoint[] {
  const times = new Set<number>();
  for (const bars of Object.values(barsBySymbol)) for (const b of bars) if (b.time >= fromTime) times.add(b.time);
  const sortedTimes = [...times].sort((a, b) => a - b);
  // Newest trade first: walking back in time undoes them one by one.
  const newestFirst = trades
    .map((trade) => ({ trade, at: Date.parse(trade.executedAt) / 1000 }))
    .filter((x) => !Number.isNaN(x.at))
    .sort((a, b) => b.at - a.at);
  let cash = Number(portfolio.cash);
  const holdings = new Map(portfolio.positions.map((p) => [p.symbol, p.quantity]));
  const points: ValuePoint[] = [];
  let undone = 0;
  for (let i = sortedTimes.length - 1; i >= 0; i -= 1) {
    const time = sortedTimes[i] ?? 0;
    for (; undone < newestFirst.length; undone += 1) {
      const next = newestFirst[undone];
      if (!next || next.at < time + BAR_SECONDS) break;
      const { symbol, side, quantity, total } = next.trade;
      holdings.set(symbol, (holdings.get(symbol) ?? 0) - (side === 'buy' ? quantity : -quantity));
      cash += side === 'buy' ? Number(total) : -Number(total);
    }
    let value: number | null = cash;
    for (const [symbol, quantity] of holdings) {
      if (quantity === 0) continue;
      const close = closeAtOrBefore(barsBySymbol[symbol], time);
      if (close === undefined) {
        value = null;
        break;
      }
      value += quantity * close;
    }
    if (value !== null) points.push({ time, value });
  }
  return points.reverse();
}

function closeAtOrBefore(bars: readonly Bar[] | undefined, time: number): number | undefined {
  let close: number | undefined;
  for (const b of bars ?? []) {
    if (b.time > time) break;
    close = Number(b.close);
  }
  return close;
}

/** The portfolio marked to the newest prices: cash plus each position at `latest(symbol)`'s
 * `last`, or the snapshot's own `last` for a symbol without a live quote. */
export function markToMarket(portfolio: Portfolio, latest: (symbol: string) => Quote | undefined): number {
  let value = Number(portfolio.cash);
  for (const p of portfolio.positions) {
    const price = latest(p.symbol)?.last ?? p.last ?? p.avgCost;
    value += p.quantity * Number(price);
  }
  return value;
}
