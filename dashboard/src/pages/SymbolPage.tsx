/**
 * /symbols/:symbol — one symbol: its live quote, its one-minute candle chart with the user's
 * fills, and the order ticket beside it. The symbol's quotes are subscribed while the page is
 * open (useSymbolQuotes), watched or not.
 */
import { lazy, Suspense, useCallback, useState, useSyncExternalStore } from 'react';
import { Link, Navigate, useParams } from 'react-router';
import { OpenOrders } from '../components/OpenOrders';
import { OrderTicket } from '../components/OrderTicket';
import { FreshnessBadge } from '../components/PortfolioPanel';
import { formatDecimal, formatPercent, formatPrice, signOf } from '../lib/decimal';
import { useSymbolQuotes } from '../realtime/useSymbolQuotes';
import { useRealtime } from '../realtime/WebSocketContext';

// The charting library loads after the rest of the page (its own chunk).
const CandleChart = lazy(() => import('../charts/CandleChart').then((m) => ({ default: m.CandleChart })));

function QuoteHeader({ symbol }: { symbol: string }) {
  const { store, status, symbols } = useRealtime();
  const subscribe = useCallback((listener: () => void) => store.quotes.subscribeSymbol(symbol, listener), [store, symbol]);
  const quote = useSyncExternalStore(subscribe, () => store.quotes.row(symbol)?.quote);
  const name = symbols.find((s) => s.symbol === symbol)?.name;
  const sign = quote ? signOf(quote.change) : 0;
  return (
    <header className="panel-head symbol-head">
      <div>
        <h1 className="symbol-title">
          {symbol} {name && <span className="sym-name">{name}</span>}
        </h1>
        <p className="symbol-quote num" data-testid="symbol-quote" data-seq={quote?.seq ?? ''}>
          <span className="symbol-last" data-field="last">{quote ? formatPrice(quote.last) : '—'}</span>{' '}
          <span className={sign > 0 ? 'pos' : sign < 0 ? 'neg' : ''}>
            {quote ? `${formatDecimal(quote.change, { signed: true })} (${formatPercent(quote.changePct)})` : ''}
          </span>
        </p>
      </div>
      <FreshnessBadge state={status.state} />
    </header>
  );
}

function Ticket({ symbol }: { symbol: string }) {
  const [ticketSymbol, setTicketSymbol] = useState(symbol);
  return <OrderTicket symbol={ticketSymbol} onSymbolChange={setTicketSymbol} />;
}

export function SymbolPage() {
  const { symbol: raw = '' } = useParams();
  const symbol = raw.toUpperCase();
  const { store, socket, status, symbols } = useRealtime();
  useSymbolQuotes(store, socket, status.state, symbol);

  if (raw !== symbol) return <Navigate to={`/symbols/${encodeURIComponent(symbol)}`} replace />;
  if (symbols.length > 0 && !symbols.some((s) => s.symbol === symbol)) {
    return (
      <section className="panel page" data-testid="unknown-symbol">
        <h1>Unknown symbol</h1>
        <p>
          {symbol} is not traded here. <Link to="/">Back to the dashboard</Link>
        </p>
      </section>
    );
  }
  return (
    <div className="symbol-page">
      <div className="grid">
        <div className="col-main">
          <section className="panel chart-panel" aria-labelledby="chart-title" data-testid="symbol-page">
            <QuoteHeader symbol={symbol} />
            <h2 id="chart-title" className="visually-hidden">
              {symbol} price, one-minute candles
            </h2>
            <Suspense fallback={<div className="candle-chart" aria-busy="true" />}>
              <CandleChart key={symbol} symbol={symbol} />
            </Suspense>
          </section>
        </div>
        <div className="col-side">
          <Ticket key={symbol} symbol={symbol} />
          <OpenOrders />
        </div>
      </div>
    </div>
  );
}
