/**
 * What every lightweight-charts chart of the dashboard shares: the dark theme, the conversion of
 * decimal-string bars to the numbers a chart draws, and whether this browser can draw one.
 */
import type { CandlestickData, DeepPartial, ChartOptions, UTCTimestamp } from 'lightweight-charts';
import type { Bar } from '../api/types';

export const UP = '#22c55e';
export const DOWN = '#f43f5e';
export const ACCENT = '#60a5fa';

/** Charts size themselves with ResizeObserver (autoSize); without it (an old browser, or a
 * test DOM) the chart is not drawn and the page shows the figures alone. */
export function canDrawCharts(): boolean {
  return typeof ResizeObserver !== 'undefined';
}

/**
 * The browser's language as a locale Intl accepts. lightweight-charts formats dates with
 * `navigator.language`, which some browsers report as a POSIX name ("C" in WebKitGTK started
 * under LANG=C) that Intl rejects with a RangeError on every redraw; such a value falls back to
 * en-US.
 */
export function chartLocale(language: string | undefined = browserLanguage()): string {
  try {
    // typed as possibly empty: a language Intl knows nothing of gives no locale
    const canonical: (string | undefined)[] = Intl.getCanonicalLocales(language ?? []);
    return canonical[0] ?? 'en-US';
  } catch {
    return 'en-US';
  }
}

function browserLanguage(): string | undefined {
  return typeof navigator === 'undefined' ? undefined : navigator.language;
}

export const CHART_OPTIONS: DeepPartial<ChartOptions> = {
  autoSize: true,
  localization: { locale: chartLocale() },
  layout: {
    background: { color: 'transparent' },
    textColor: '#a7b3c6',
    fontFamily: "'Inter', ui-sans-serif, system-ui, sans-serif",
  },
  grid: {
    vertLines: { color: 'rgba(34, 48, 71, 0.6)' },
    horzLines: { color: 'rgba(34, 48, 71, 0.6)' },
  },
  rightPriceScale: { borderColor: '#223047' },
  timeScale: { borderColor: '#223047', timeVisible: true, secondsVisible: false },
  crosshair: { horzLine: { labelBackgroundColor: '#2e3f5c' }, vertLine: { labelBackgroundColor: '#2e3f5c' } },
};

/** A bar as a candle: decimal strings become numbers here, for drawing only. */
export function toCandle(bar: Bar): CandlestickData<UTCTimestamp> {
  return {
    time: bar.time as UTCTimestamp,
    open: Number(bar.open),
    high: Number(bar.high),
    low: Number(bar.low),
    close: Number(bar.close),
  };
}
