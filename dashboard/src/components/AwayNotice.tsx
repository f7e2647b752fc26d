/**
 * AwayNotice: after a disconnect the server could not recover (too long, a restarted or another
 * instance), the dashboard re-synced from snapshots; this line says what happened meanwhile,
 * from the SDK's `missed` (GET /api/events): "3 fills while you were away", each listed, until
 * the user dismisses it. (A recovered connection needs no such line: its missed fills were
 * replayed and toasted.)
 */
import { Link } from 'react-router';
import type { TradeFailed, TradeOut } from '../api/types';
import { useRealtime } from '../realtime/WebSocketContext';
import { tradeTitle } from './TradeNotifications';

export function awaySummary(fills: number, failures: number): string {
  const parts: string[] = [];
  if (fills > 0) parts.push(`${fills.toLocaleString()} ${fills === 1 ? 'fill' : 'fills'}`);
  if (failures > 0) parts.push(`${failures.toLocaleString()} rejected ${failures === 1 ? 'order' : 'orders'}`);
  return `${parts.join(' and ')} while you were away`;
}

export function AwayNotice() {
  const { away, dismissAway } = useRealtime();
  if (!away) return null;
  const fills = away.events.filter((e) => e.event === 'trade:executed').map((e) => e.data as TradeOut);
  const failures = away.events.filter((e) => e.event === 'trade:failed').map((e) => e.data as TradeFailed);
  if (fills.length === 0 && failures.length === 0) return null;
  return (
    <section className="away-notice" role="status" data-testid="away-notice">
      <p>
        <strong data-field="away-summary">{awaySummary(fills.length, failures.length)}</strong>
        {!away.complete && <span className="muted"> (and more: see Trades)</span>}
      </p>
      <ul>
        {fills.map((t) => (
          <li key={t.tradeId} data-trade-id={t.tradeId}>
            <Link to={`/trades/${t.tradeId}`}>{tradeTitle(t)}</Link>
          </li>
        ))}
        {failures.map((f) => (
          <li key={`order-${f.order.orderId}`} className="negative">
            Rejected: {f.order.side} {f.order.quantity.toLocaleString()} {f.order.symbol}
          </li>
        ))}
      </ul>
      <button type="button" className="btn btn-small btn-ghost" onClick={dismissAway}>
        Dismiss
      </button>
    </section>
  );
}
