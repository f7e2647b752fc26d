/**
 * CandleChart: one symbol's one-minute candles (useLiveBars: loaded, then live from quotes,
 * reloaded after a reconnect) with the user's fills of it as markers (buy below the bar, sell
 * above). The chart is drawn imperatively (lightweight-charts v5); React only hands it data:
 * a tick updates the newest candle in place, anything else (a load, a roll, a correction)
 * sets the series' data again. The figures the chart shows are also on the element as data
 * attributes (bar count, newest bar, markers), for assistive tools and tests.
 */
import {
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Bar, TradeOut } from '../api/types';
import { fillMarkers, MAX_BARS } from '../lib/bars';
import { formatPrice } from '../lib/decimal';
import { useStoreValue } from '../realtime/dashboardStore';
import { useLiveBars } from '../realtime/useLiveBars';
import { useRealtime } from '../realtime/WebSocketContext';
import { canDrawCharts, CHART_OPTIONS, DOWN, toCandle, UP } from './theme';

interface Drawn {
  chart: IChartApi;
  series: ISeriesApi<'Candlestick'>;
  markers: ISeriesMarkersPluginApi<Time>;
}

/** Whether `next` only moved `prev`'s newest bar (same bars otherwise). */
function onlyLastChanged(prev: readonly Bar[], next: readonly Bar[]): boolean {
  if (prev.length === 0 || prev.length !== next.length) return false;
  return prev[0]?.time === next[0]?.time && prev[prev.length - 1]?.time === next[next.length - 1]?.time;
}

export function CandleChart({ symbol }: { symbol: string }) {
  const { store } = useRealtime();
  const { bars, loaded, loads, failed } = useLiveBars(symbol, MAX_BARS, { correctOnRoll: true });
  const container = useRef<HTMLDivElement>(null);
  const drawn = useRef<Drawn | null>(null);
  const drawnBars = useRef<readonly Bar[]>([]);
  const liveTrades = useStoreValue(store, (s) => s.trades);
  const [history, setHistory] = useState<{ symbol: string; trades: TradeOut[] } | null>(null);

  useEffect(() => {
    const element = container.current;
    if (!element || !canDrawCharts()) return;
    const chart = createChart(element, {
      ...CHART_OPTIONS,
      timeScale: { ...CHART_OPTIONS.timeScale, rightOffset: 6, barSpacing: 8 },
    });
    const series = chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
    });
    drawn.current = { chart, series, markers: createSeriesMarkers(series, []) };
    drawnBars.current = [];
    return () => {
      drawn.current = null;
      chart.remove();
    };
  }, [symbol]);

  // Fills older than the socket's snapshot (it holds the newest 50) come from REST, once.
  useEffect(() => {
    let cancelled = false;
    api
      .trades(500)
      .then((trades) => {
        if (!cancelled) setHistory({ symbol, trades: trades.filter((t) => t.symbol === symbol) });
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [symbol, loads]);

  useEffect(() => {
    const d = drawn.current;
    if (!d) return;
    const prev = drawnBars.current;
    const newest = bars[bars.length - 1];
    if (newest && onlyLastChanged(prev, bars)) d.series.update(toCandle(newest));
    else d.series.setData(bars.map(toCandle));
    drawnBars.current = bars;
  }, [bars]);

  // Markers change with the bars' range and the trades, not with every tick.
  const firstTime = bars[0]?.time;
  const lastTime = bars[bars.length - 1]?.time;
  const markers = useMemo(() => {
    const byId = new Map<number, TradeOut>();
    for (const t of history?.symbol === symbol ? history.trades : []) byId.set(t.tradeId, t);
    for (const t of liveTrades ?? []) if (t.symbol === symbol) byId.set(t.tradeId, t);
    return fillMarkers([...byId.values()], symbol, bars);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the range, not every tick
  }, [history, liveTrades, symbol, firstTime, lastTime, bars.length]);

  useEffect(() => {
    drawn.current?.markers.setMarkers(
      markers.map((m) => ({
        time: m.time as UTCTimestamp,
        position: m.side === 'buy' ? 'belowBar' : 'aboveBar',
        shape: m.side === 'buy' ? 'arrowUp' : 'arrowDown',
        color: m.side === 'buy' ? UP : DOWN,
        text: m.text,
        id: m.id,
      })),
    );
  }, [markers]);

  const newest = bars[bars.length - 1];
  return (
    <div className="candle-chart-wrap">
      <div
        ref={container}
        className="candle-chart"
        role="img"
        aria-label={
          newest
            ? `${symbol} one-minute candles: ${bars.length} bars, last ${formatPrice(newest.close)}`
            : `${symbol} one-minute candles`
        }
        data-testid="candle-chart"
        data-loaded={loaded}
        data-loads={loads}
        data-bars={bars.length}
        data-first-time={bars[0]?.time ?? ''}
        data-last-time={newest?.time ?? ''}
        data-last-close={newest?.close ?? ''}
        data-markers={markers.length}
      />
      {!loaded && !failed && <p className="chart-note muted">Loading the chart…</p>}
      {failed && !loaded && <p className="chart-note form-error">The chart could not be loaded; it retries after a reconnect.</p>}
      {loaded && bars.length === 0 && <p className="chart-note muted">No trades in {symbol} yet today; the first candle appears with the next tick.</p>}
    </div>
  );
}
