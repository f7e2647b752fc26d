import { lazy, Suspense, useState } from 'react';
import { Link } from 'react-router';
import { OpenOrders } from '../components/OpenOrders';
import { OrderTicket } from '../components/OrderTicket';
import { PortfolioPanel } from '../components/PortfolioPanel';
import { TradesTable } from '../components/TradesTable';
import { Watchlist } from '../components/Watchlist';
import { useStoreValue } from '../realtime/dashboardStore';
import { useRealtime } from '../realtime/WebSocketContext';

// The charting library loads after the rest of the page (its own chunk).
const PortfolioChart = lazy(() => import('../charts/PortfolioChart').then((m) => ({ default: m.PortfolioChart })));

function ChartPlaceholder() {
  return (
    <section className="panel portfolio-chart" aria-busy="true">
      <header className="panel-head">
        <h2>Value today</h2>
      </header>
      <div className="value-chart" />
    </section>
  );
}

function RecentTrades() {
  const { store } = useRealtime();
  const trades = useStoreValue(store, (s) => s.trades);
  return (
    <section className="panel recent-trades" aria-labelledby="recent-title" data-testid="recent-trades">
      <header className="panel-head">
        <h2 id="recent-title">Recent trades</h2>
        <Link to="/trades" className="muted small">
          All trades →
        </Link>
      </header>
      <TradesTable trades={trades ? trades.slice(0, 8) : null} compact />
    </section>
  );
}

export function DashboardPage() {
  const [ticketSymbol, setTicketSymbol] = useState('AAPL');
  return (
    <div className="dashboard">
      <PortfolioPanel />
      <Suspense fallback={<ChartPlaceholder />}>
        <PortfolioChart />
      </Suspense>
      <div className="grid">
        <div className="col-main">
          <Watchlist onSelect={setTicketSymbol} />
          <RecentTrades />
        </div>
        <div className="col-side">
          <OrderTicket symbol={ticketSymbol} onSymbolChange={setTicketSymbol} />
          <OpenOrders />
        </div>
      </div>
    </div>
  );
}
