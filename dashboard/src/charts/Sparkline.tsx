/**
 * Sparkline: the last half hour of a symbol's one-minute closes as a small SVG line, moving with
 * every quote (useLiveBars; the row it sits in already re-renders per tick, and 30 points of a
 * polyline cost next to nothing). Green when the last close is at or above the first bar's open, red below.
 */
import { memo } from 'react';
import type { Bar } from '../api/types';
import { sparklinePoints } from '../lib/bars';
import { compareDecimal } from '../lib/decimal';
import { useLiveBars } from '../realtime/useLiveBars';

export const SPARKLINE_BARS = 30;

/** The closes to draw; a single bar is drawn from its open to its close. */
function closes(bars: readonly Bar[]): number[] {
  const only = bars.length === 1 ? bars[0] : undefined;
  return only ? [Number(only.open), Number(only.close)] : bars.map((b) => Number(b.close));
}
const WIDTH = 72;
const HEIGHT = 22;

export const Sparkline = memo(function Sparkline({ symbol }: { symbol: string }) {
  const { bars, loaded } = useLiveBars(symbol, SPARKLINE_BARS);
  const first = bars[0];
  const last = bars[bars.length - 1];
  const trend = first && last && compareDecimal(last.close, first.open) < 0 ? 'down' : 'up';
  return (
    <svg
      className={`sparkline spark-${trend}`}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
      aria-hidden="true"
      data-testid="sparkline"
      data-loaded={loaded}
      data-points={bars.length}
      data-last-close={last?.close ?? ''}
    >
      {bars.length > 0 && (
        <polyline
          points={sparklinePoints(closes(bars), WIDTH, HEIGHT, 2)}
          fill="none"
          stroke="currentColor"
          strokeWidth="1.5"
          strokeLinejoin="round"
          strokeLinecap="round"
        />
      )}
    </svg>
  );
});
