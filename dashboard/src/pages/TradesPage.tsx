import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { TradesTable } from '../components/TradesTable';
import { useStoreValue } from '../realtime/dashboardStore';
import { useRealtime } from '../realtime/WebSocketContext';

/** Trade history: the last 50 fills, refreshed from REST on open, then kept live. */
export function TradesPage() {
  const { store } = useRealtime();
  const trades = useStoreValue(store, (s) => s.trades);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Trades · Tradewire';
    api
      .trades(50)
      .then((list) => {
        store.mergeTrades(list);
      })
      .catch(() => {
        setError('Could not load the trade history.');
      });
    return () => {
      document.title = 'Tradewire';
    };
  }, [store]);

  return (
    <section className="panel page" aria-labelledby="trades-title">
      <header className="panel-head">
        <h1 id="trades-title">Trade history</h1>
        {trades && <span className="muted">{trades.length} most recent</span>}
      </header>
      {error && trades === null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <TradesTable trades={trades} />
    </section>
  );
}
