import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, ApiError } from '../api/client';
import type { TradeOut } from '../api/types';
import { formatMoney, formatPrice } from '../lib/decimal';
import { formatDateTime } from '../lib/time';
import { useRealtime } from '../realtime/WebSocketContext';

type Load = { kind: 'loading' } | { kind: 'ok'; trade: TradeOut } | { kind: 'missing' } | { kind: 'error' };

/**
 * /trades/:id — from the store when the trade is recent (a fill just pushed is there at once),
 * and from GET /api/trades/{id}. Going from one trade's page to another's (a toast's "View
 * Trade") starts afresh: never the previous trade under the new one's heading.
 */
export function TradePage() {
  const { id = '' } = useParams();
  return <TradeDetails key={id} id={id} />;
}

function TradeDetails({ id }: { id: string }) {
  const { store } = useRealtime();
  const [load, setLoad] = useState<Load>(() => {
    const known = store.getState().trades?.find((t) => String(t.tradeId) === id);
    return known ? { kind: 'ok', trade: known } : { kind: 'loading' };
  });

  const validId = /^\d+$/.test(id);

  useEffect(() => {
    let cancelled = false;
    if (!validId) return;
    api
      .trade(id)
      .then((trade) => {
        if (!cancelled) setLoad({ kind: 'ok', trade });
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        setLoad((current) =>
          current.kind === 'ok' ? current : error instanceof ApiError && error.status === 404 ? { kind: 'missing' } : { kind: 'error' },
        );
      });
    return () => {
      cancelled = true;
    };
  }, [id, validId]);

  useEffect(() => {
    document.title = `Trade #${id} · Tradewire`;
    return () => {
      document.title = 'Tradewire';
    };
  }, [id]);

  const shown: Load = validId ? load : { kind: 'missing' };
  return (
    <section className="panel page trade-page" aria-labelledby="trade-title" data-testid="trade-page">
      <header className="panel-head">
        <h1 id="trade-title">Trade #{id}</h1>
        <Link to="/trades" className="muted small">
          ← All trades
        </Link>
      </header>
      {shown.kind === 'loading' && <p className="muted">Loading…</p>}
      {shown.kind === 'missing' && <p role="alert">Trade not found.</p>}
      {shown.kind === 'error' && <p role="alert">Could not load this trade. Please try again.</p>}
      {shown.kind === 'ok' && (
        <>
          <p className={`trade-headline side-${shown.trade.side}`}>
            {shown.trade.side === 'buy' ? 'Bought' : 'Sold'} {shown.trade.quantity.toLocaleString()}{' '}
            <strong>{shown.trade.symbol}</strong> at {formatPrice(shown.trade.price)}
          </p>
          <dl className="details" data-trade-id={shown.trade.tradeId}>
            <div>
              <dt>Symbol</dt>
              <dd>{shown.trade.symbol}</dd>
            </div>
            <div>
              <dt>Side</dt>
              <dd className={`side side-${shown.trade.side}`}>{shown.trade.side}</dd>
            </div>
            <div>
              <dt>Quantity</dt>
              <dd className="num">{shown.trade.quantity.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Price</dt>
              <dd className="num">{formatPrice(shown.trade.price)}</dd>
            </div>
            <div>
              <dt>Total</dt>
              <dd className="num">{formatMoney(shown.trade.total)}</dd>
            </div>
            <div>
              <dt>Executed</dt>
              <dd className="num">{formatDateTime(shown.trade.executedAt)}</dd>
            </div>
            <div>
              <dt>Order</dt>
              <dd className="num">#{shown.trade.orderId}</dd>
            </div>
          </dl>
        </>
      )}
    </section>
  );
}
