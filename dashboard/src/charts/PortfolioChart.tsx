/**
 * PortfolioChart: the portfolio's total value over the session, as a line.
 *
 * Seeded from what the service keeps: the last two hours of one-minute bars of every symbol
 * held or traded since, and the user's trades (the newest 500), worked back from the portfolio
 * now (lib/bars `portfolioHistory`): one point per minute. Then live: a point for every
 * portfolio snapshot (`portfolio:update` after each fill, the acks after a reconnect, polls) at
 * its `totalValue`, and between them the held positions marked to the newest quotes the
 * QuoteBoard has (the watchlist's), at most once a second; live points are stamped with the
 * time they arrive. Seeded again after a reconnect.
 */
import { createChart, type IChartApi, type ISeriesApi, LineSeries, type UTCTimestamp } from 'lightweight-charts';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Bar, Portfolio } from '../api/types';
import { markToMarket, portfolioHistory, type ValuePoint } from '../lib/bars';
import { formatMoney } from '../lib/decimal';
import { useStoreValue } from '../realtime/dashboardStore';
import { useRealtime } from '../realtime/WebSocketContext';
import { ACCENT, canDrawCharts, CHART_OPTIONS } from './theme';

export const SEED_MINUTES = 120;
const SEED_TRADES = 500;
const LIVE_EVERY_MS = 1000;
export const MAX_POINTS = 5000;

/** Appends `point` to `points` (sorted by time): a point of the same second replaces the last,
 * an older one is ignored; beyond `max` points the oldest go. */
export function appendPoint(points: readonly ValuePoint[], point: ValuePoint, max = MAX_POINTS): ValuePoint[] {
  const last = points[points.length - 1];
  if (last && point.time < last.time) return [...points];
  const next = last && point.time === last.time ? [...points.slice(0, -1), point] : [...points, point];
  return next.length > max ? next.slice(next.length - max) : next;
}

async function seed(portfolio: Portfolio): Promise<ValuePoint[]> {
  const trades = await api.trades(SEED_TRADES);
  const symbols = new Set([...portfolio.positions.map((p) => p.symbol), ...trades.map((t) => t.symbol)]);
  const results = await Promise.all([...symbols].map((s) => api.bars(s, SEED_MINUTES).then((b) => [s, b.bars] as const)));
  const bars: Record<string, readonly Bar[]> = Object.fromEntries(results);
  // With the trade list cut at its limit, minutes before its oldest trade cannot be known.
  const oldest = trades[trades.length - 1];
  const from = trades.length >= SEED_TRADES && oldest ? Date.parse(oldest.executedAt) / 1000 : -Infinity;
  return portfolioHistory(portfolio, trades, bars, from);
}

export function PortfolioChart() {
  const { store, status } = useRealtime();
  const portfolio = useStoreValue(store, (s) => s.portfolio);
  const container = useRef<HTMLDivElement>(null);
  const drawn = useRef<{ chart: IChartApi; series: ISeriesApi<'Line'> } | null>(null);
  const [points, setPoints] = useState<readonly ValuePoint[]>([]);
  const [seeded, setSeeded] = useState(false);
  const usable = status.state === 'live' || status.state === 'polling';
  const hasPortfolio = portfolio !== null;

  useEffect(() => {
    const element = container.current;
    if (!element || !canDrawCharts()) return;
    const chart = createChart(element, {
      ...CHART_OPTIONS,
      timeScale: { ...CHART_OPTIONS.timeScale, secondsVisible: true, rightOffset: 4 },
      localization: { ...CHART_OPTIONS.localization, priceFormatter: (value: number) => formatMoney(value.toFixed(2)) },
    });
    const series = chart.addSeries(LineSeries, {
      color: ACCENT,
      lineWidth: 2,
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
    });
    drawn.current = { chart, series };
    return () => {
      drawn.current = null;
      chart.remove();
    };
  }, []);

  // Seed when the connection is (again) usable and a portfolio is known.
  useEffect(() => {
    if (!usable || !hasPortfolio) return;
    const now = store.getState().portfolio;
    if (!now) return;
    let cancelled = false;
    seed(now)
      .then((history) => {
        if (cancelled) return;
        setPoints((current) => {
          const after = current.filter((p) => p.time > (history[history.length - 1]?.time ?? -Infinity) + 59);
          return after.reduce<ValuePoint[]>((all, p) => appendPoint(all, p), history);
        });
        setSeeded(true);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [usable, hasPortfolio, store]);

  // Every snapshot is a point.
  useEffect(() => {
    let seen: Portfolio | null = null;
    const onChange = () => {
      const snapshot = store.getState().portfolio;
      if (!snapshot || snapshot === seen) return;
      seen = snapshot;
      // Stamped on arrival, like the marks below: one clock for every live point.
      const time = Math.floor(Date.now() / 1000);
      setPoints((current) => appendPoint(current, { time, value: Number(snapshot.totalValue) }));
    };
    onChange();
    return store.subscribe(onChange);
  }, [store]);

  // Between snapshots: marked to the newest quotes, at most once a second.
  useEffect(() => {
    let lastAt = 0;
    return store.quotes.onFrame(() => {
      const now = Date.now();
      const current = store.getState().portfolio;
      if (!current || current.positions.length === 0 || now - lastAt < LIVE_EVERY_MS) return;
      lastAt = now;
      const value = markToMarket(current, (s) => store.quotes.latest(s));
      setPoints((p) => appendPoint(p, { time: Math.floor(now / 1000), value }));
    });
  }, [store]);

  useEffect(() => {
    drawn.current?.series.setData(points.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
  }, [points]);

  const newest = points[points.length - 1];
  return (
    <section className="panel portfolio-chart" aria-labelledby="value-title" data-testid="portfolio-chart">
      <header className="panel-head">
        <h2 id="value-title">Value today</h2>
        {newest && <span className="muted num">{formatMoney(newest.value.toFixed(2))}</span>}
      </header>
      <div
        ref={container}
        className="value-chart"
        role="img"
        aria-label={newest ? `Portfolio value over the session, now ${formatMoney(newest.value.toFixed(2))}` : 'Portfolio value over the session'}
        data-points={points.length}
        data-seeded={seeded}
        data-last-value={newest ? newest.value.toFixed(2) : ''}
      />
    </section>
  );
}
