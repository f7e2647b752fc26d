import { describe, expect, it } from 'vitest';
import type { Bar } from '../api/types';
import { portfolio, quote, trade } from '../test/fixtures';
import {
  applyQuote,
  barTime,
  corrected,
  fillMarkers,
  markToMarket,
  portfolioHistory,
  reloaded,
  sparklinePoints,
  withQuote,
} from './bars';

const T0 = 1_764_698_400; // a minute's start (UTC epoch seconds)

/** A quote of `last` at `second` seconds after T0. */
function tick(last: string, second: number, seq = 2) {
  return quote('AAPL', last, seq, { ts: Math.round((T0 + second) * 1000) });
}

function bar(minute: number, open: string, high: string, low: string, close: string, volume = 1): Bar {
  return { time: T0 + 60 * minute, open, high, low, close, volume };
}

describe('barTime', () => {
  it('is the start of the UTC minute of a millisecond timestamp', () => {
    expect(barTime(T0 * 1000)).toBe(T0);
    expect(barTime(T0 * 1000 + 59_999)).toBe(T0);
    expect(barTime(T0 * 1000 + 60_000)).toBe(T0 + 60);
    expect(barTime(T0 * 1000 - 1)).toBe(T0 - 60);
  });
});

describe('applyQuote', () => {
  it('starts a bar when there is none', () => {
    expect(applyQuote(undefined, tick('189.10', 5))).toEqual({ kind: 'new', bar: bar(0, '189.10', '189.10', '189.10', '189.10') });
  });

  it('moves the last bar within its minute: close always, high and low by exact decimals', () => {
    const last = bar(0, '189.10', '189.40', '189.02', '189.20', 3);
    expect(applyQuote(last, tick('189.33', 59.999))).toEqual({
      kind: 'update',
      bar: bar(0, '189.10', '189.40', '189.02', '189.33', 4),
    });
    // "189.5" > "189.40" although it is shorter; "9.99" < "10.00" although it sorts after as text
    expect(applyQuote(last, tick('189.5', 10))).toMatchObject({ bar: { high: '189.5', close: '189.5' } });
    const low = bar(0, '10.00', '10.00', '10.00', '10.00');
    expect(applyQuote(low, tick('9.99', 10))).toMatchObject({ bar: { low: '9.99', high: '10.00', open: '10.00' } });
  });

  it('rolls to a new bar at the next minute, opening at the quote', () => {
    const last = bar(0, '189.10', '189.40', '189.02', '189.20', 3);
    expect(applyQuote(last, tick('189.50', 60))).toEqual({ kind: 'new', bar: bar(1, '189.50', '189.50', '189.50', '189.50') });
    expect(applyQuote(last, tick('189.50', 300))).toEqual({ kind: 'new', bar: bar(5, '189.50', '189.50', '189.50', '189.50') });
  });

  it('ignores a quote of a minute before the last bar', () => {
    expect(applyQuote(bar(1, '1.00', '1.00', '1.00', '1.00'), tick('99.00', 59))).toEqual({ kind: 'stale' });
  });
});

describe('withQuote', () => {
  it('replaces the last bar or appends one, keeping at most `max` bars', () => {
    const bars = [bar(0, '1.00', '1.00', '1.00', '1.00'), bar(1, '2.00', '2.00', '2.00', '2.00')];
    expect(withQuote(bars, tick('2.50', 61))).toEqual([bars[0], bar(1, '2.00', '2.50', '2.00', '2.50', 2)]);
    expect(withQuote(bars, tick('3.00', 120), 2)).toEqual([bars[1], bar(2, '3.00', '3.00', '3.00', '3.00')]);
    expect(withQuote(bars, tick('0.50', 30))).toBe(bars);
  });
});

describe('reloaded', () => {
  it('takes the service bars and re-applies the quotes that came meanwhile: no gap, no bar twice', () => {
    const server = [bar(0, '1.00', '1.20', '0.90', '1.10', 40), bar(1, '1.10', '1.30', '1.05', '1.25', 12)];
    const meanwhile = [tick('1.40', 100), tick('1.35', 125)];
    expect(reloaded(server, meanwhile)).toEqual([
      server[0],
      bar(1, '1.10', '1.40', '1.05', '1.40', 13),
      bar(2, '1.35', '1.35', '1.35', '1.35'),
    ]);
    const times = reloaded(server, meanwhile).map((b) => b.time);
    expect(new Set(times).size).toBe(times.length);
    expect(reloaded(server, [])).toBe(server);
  });
});

describe('corrected', () => {
  it('replaces finished bars with the service ones and keeps the live newest bar', () => {
    const local = [bar(0, '1.00', '1.10', '1.00', '1.05', 3), bar(1, '1.05', '1.05', '1.05', '1.05')];
    const fresh = [bar(-1, '0.90', '0.95', '0.90', '0.95', 2), bar(0, '1.00', '1.30', '0.80', '1.05', 9), bar(1, '1.05', '1.06', '1.05', '1.06', 2)];
    expect(corrected(local, fresh)).toEqual([fresh[0], fresh[1], local[1]]);
    expect(corrected([], fresh)).toBe(fresh);
  });
});

describe('fillMarkers', () => {
  const bars = [bar(0, '1', '1', '1', '1'), bar(1, '1', '1', '1', '1'), bar(3, '1', '1', '1', '1')];
  const at = (second: number) => new Date((T0 + second) * 1000).toISOString();

  it('puts each fill of the symbol on its bar, oldest first', () => {
    const trades = [
      trade(3, { side: 'sell', quantity: 2, executedAt: at(200) }), // minute 3
      trade(2, { executedAt: at(150) }), // minute 2 has no bar: the bar before it
      trade(1, { executedAt: at(5) }),
      trade(4, { symbol: 'MSFT', executedAt: at(5) }),
      trade(5, { executedAt: at(-120) }), // before the first bar
    ];
    expect(fillMarkers(trades, 'AAPL', bars)).toEqual([
      { time: T0, side: 'buy', text: 'B 10', id: '1' },
      { time: T0 + 60, side: 'buy', text: 'B 10', id: '2' },
      { time: T0 + 180, side: 'sell', text: 'S 2', id: '3' },
    ]);
    expect(fillMarkers(trades, 'AAPL', [])).toEqual([]);
  });
});

describe('sparklinePoints', () => {
  it('spans the box, highest value at the top', () => {
    expect(sparklinePoints([1, 3, 2], 10, 10, 0)).toBe('0.0,10.0 5.0,0.0 10.0,5.0');
    expect(sparklinePoints([5, 5], 10, 10, 0)).toBe('0.0,5.0 10.0,5.0');
    expect(sparklinePoints([], 10, 10)).toBe('');
  });
});

describe('portfolioHistory', () => {
  const at = (second: number) => new Date((T0 + second) * 1000).toISOString();

  it('works the value of each minute back from the portfolio now and the trades since', () => {
    // Bought 10 AAPL at 100 in minute 1; now 1,000 cash and 10 AAPL.
    const now = portfolio({
      cash: '1000.00',
      positions: [{ symbol: 'AAPL', quantity: 10, avgCost: '100.00', last: '103.00', marketValue: '1030.00', unrealizedPnl: '30.00' }],
    });
    const trades = [trade(1, { quantity: 10, price: '100.00', total: '1000.00', executedAt: at(70) })];
    const bars = { AAPL: [bar(0, '99', '99', '99', '99'), bar(1, '100', '101', '100', '101'), bar(2, '103', '103', '103', '103')] };
    expect(portfolioHistory(now, trades, bars)).toEqual([
      { time: T0, value: 2000 }, // all cash
      { time: T0 + 60, value: 1000 + 10 * 101 },
      { time: T0 + 120, value: 1000 + 10 * 103 },
    ]);
    expect(portfolioHistory(now, trades, bars, T0 + 60).map((p) => p.time)).toEqual([T0 + 60, T0 + 120]);
  });

  it('leaves out minutes where a held symbol has no price yet', () => {
    const now = portfolio({
      cash: '0.00',
      positions: [{ symbol: 'MSFT', quantity: 1, avgCost: '400.00', last: '400.00', marketValue: '400.00', unrealizedPnl: '0.00' }],
    });
    const bars = { AAPL: [bar(0, '1', '1', '1', '1')], MSFT: [bar(1, '400', '400', '400', '400')] };
    expect(portfolioHistory(now, [], bars)).toEqual([{ time: T0 + 60, value: 400 }]);
  });
});

describe('markToMarket', () => {
  it('prices positions at the live quote, else at the snapshot', () => {
    const now = portfolio({
      cash: '10.00',
      positions: [
        { symbol: 'AAPL', quantity: 2, avgCost: '100.00', last: '101.00', marketValue: '202.00', unrealizedPnl: '2.00' },
        { symbol: 'KO', quantity: 1, avgCost: '60.00', last: '61.00', marketValue: '61.00', unrealizedPnl: '1.00' },
      ],
    });
    expect(markToMarket(now, (s) => (s === 'AAPL' ? quote('AAPL', '105.00', 3) : undefined))).toBe(10 + 210 + 61);
  });
});
