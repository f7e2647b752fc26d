/**
 * Portfolio summary and positions: a skeleton until the first snapshot (the subscribe:portfolio
 * ack or a poll), then live `portfolio:update`s. While the connection is down the figures stay,
 * dimmed and marked stale. Fixed column widths and tabular figures: nothing moves as values tick.
 */
import { Link } from 'react-router';
import { formatMoney, formatPrice, signOf } from '../lib/decimal';
import { formatTime } from '../lib/time';
import { useStoreValue } from '../realtime/dashboardStore';
import type { ConnectionState } from '../realtime/useWebSocket';
import { useRealtime } from '../realtime/WebSocketContext';

function pnlClass(value: string | null): string {
  if (value === null) return '';
  const s = signOf(value);
  return s > 0 ? 'pos' : s < 0 ? 'neg' : '';
}

export function FreshnessBadge({ state }: { state: ConnectionState }) {
  if (state === 'live') {
    return (
      <span className="badge badge-live" data-freshness="live">
        <span className="pulse" aria-hidden="true" />
        Live
      </span>
    );
  }
  if (state === 'polling') {
    return (
      <span className="badge badge-polling" data-freshness="polling">
        Polling
      </span>
    );
  }
  return (
    <span className="badge badge-stale" data-freshness="stale">
      Stale
    </span>
  );
}

const STATS = [
  { key: 'totalValue', label: 'Total value' },
  { key: 'cash', label: 'Cash' },
  { key: 'positionsValue', label: 'Positions' },
  { key: 'unrealizedPnl', label: 'Unrealized P&L' },
] as const;

export function PortfolioPanel() {
  const { store, status } = useRealtime();
  const portfolio = useStoreValue(store, (s) => s.portfolio);
  const stale = portfolio !== null && status.state !== 'live' && status.state !== 'polling';

  return (
    <section
      className="panel portfolio"
      aria-labelledby="portfolio-title"
      aria-busy={portfolio === null}
      data-stale={stale}
      data-testid="portfolio"
    >
      <header className="panel-head">
        <h2 id="portfolio-title">Portfolio</h2>
        <div className="panel-meta">
          {portfolio && <span className="muted as-of">as of {formatTime(portfolio.asOf)}</span>}
          <FreshnessBadge state={status.state} />
        </div>
      </header>
      <dl className="stats">
        {STATS.map(({ key, label }) => {
          const value = portfolio ? portfolio[key] : null;
          const signed = key === 'unrealizedPnl';
          return (
            <div className="stat" key={key}>
              <dt>{label}</dt>
              <dd className={`num ${signed ? pnlClass(value) : ''}`} data-field={key}>
                {value === null ? <span className="skeleton" aria-hidden="true" /> : formatMoney(value, signed)}
              </dd>
            </div>
          );
        })}
      </dl>
      <div className="table-wrap">
        <table className="table positions">
          <caption className="visually-hidden">Positions</caption>
          <thead>
            <tr>
              <th scope="col" className="c-sym">Symbol</th>
              <th scope="col" className="num c-qty">Qty</th>
              <th scope="col" className="num hide-sm c-px">Avg cost</th>
              <th scope="col" className="num c-px">Last</th>
              <th scope="col" className="num c-money">Value</th>
              <th scope="col" className="num c-money">P&amp;L</th>
            </tr>
          </thead>
          <tbody>
            {portfolio?.positions.map((p) => (
              <tr key={p.symbol} data-symbol={p.symbol}>
                <th scope="row" className="sym">
                  <Link to={`/symbols/${encodeURIComponent(p.symbol)}`} className="row-link">
                    {p.symbol}
                  </Link>
                </th>
                <td className="num" data-field="quantity">{p.quantity.toLocaleString()}</td>
                <td className="num hide-sm">{formatPrice(p.avgCost)}</td>
                <td className="num">{formatPrice(p.last)}</td>
                <td className="num">{formatMoney(p.marketValue)}</td>
                <td className={`num ${pnlClass(p.unrealizedPnl)}`}>{formatMoney(p.unrealizedPnl, true)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {portfolio === null && (
          <div className="table-empty" aria-hidden="true">
            <span className="skeleton wide" />
            <span className="skeleton wide" />
          </div>
        )}
        {portfolio?.positions.length === 0 && <p className="table-empty">No positions yet — place an order to open one.</p>}
      </div>
    </section>
  );
}
