import { Link } from 'react-router';
import type { TradeOut } from '../api/types';
import { formatMoney, formatPrice } from '../lib/decimal';
import { formatDateTime, formatDay, formatTime } from '../lib/time';

/** Trades newest first; each row links to its trade page, its symbol to the symbol's page. */
export function TradesTable({ trades, compact = false }: { trades: TradeOut[] | null; compact?: boolean }) {
  return (
    <div className="table-wrap">
      <table className={`table trades ${compact ? 'compact' : 'full'}`}>
        <caption className="visually-hidden">Trades</caption>
        <thead>
          <tr>
            <th scope="col" className="c-time">Time</th>
            <th scope="col">Symbol</th>
            <th scope="col" className="c-side">Side</th>
            <th scope="col" className="num c-qty">Qty</th>
            <th scope="col" className="num c-px">Price</th>
            <th scope="col" className="num c-money hide-sm">Total</th>
          </tr>
        </thead>
        <tbody>
          {trades?.map((t) => (
            <tr key={t.tradeId} data-trade-id={t.tradeId}>
              <td className="num">
                <Link to={`/trades/${t.tradeId}`} className="row-link" title={formatDateTime(t.executedAt)}>
                  {!compact && <span className="t-day">{formatDay(t.executedAt)}</span>}
                  {formatTime(t.executedAt)}
                </Link>
              </td>
              <th scope="row" className="sym">
                <Link to={`/symbols/${encodeURIComponent(t.symbol)}`} className="row-link">
                  {t.symbol}
                </Link>
              </th>
              <td className={`side side-${t.side}`}>{t.side}</td>
              <td className="num">{t.quantity.toLocaleString()}</td>
              <td className="num">{formatPrice(t.price)}</td>
              <td className="num hide-sm">{formatMoney(t.total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {trades === null && (
        <div className="table-empty" aria-hidden="true">
          <span className="skeleton wide" />
          <span className="skeleton wide" />
        </div>
      )}
      {trades?.length === 0 && <p className="table-empty">No trades yet.</p>}
    </div>
  );
}
