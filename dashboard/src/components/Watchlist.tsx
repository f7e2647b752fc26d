/**
 * Watchlist: add/remove symbols (saved with PUT /api/watchlist) and live quotes. Each row
 * subscribes to its own symbol on the QuoteBoard, which applies incoming quotes once per
 * animation frame, so a tick re-renders one row, never the table. An up-tick of `last` flashes
 * green, a down-tick red (the animation restarts on every tick by alternating two names). Each row
 * has a sparkline of the symbol's last half hour, linking to its chart page.
 */
import { memo, type SyntheticEvent, useCallback, useId, useMemo, useState, useSyncExternalStore } from 'react';
import { Link } from 'react-router';
import { ApiError } from '../api/client';
import { Sparkline } from '../charts/Sparkline';
import { formatDecimal, formatPercent, formatPrice, signOf } from '../lib/decimal';
import { useStoreValue } from '../realtime/dashboardStore';
import { AckError } from '../realtime/subscriptions';
import { useRealtime, WatchlistError } from '../realtime/WebSocketContext';
import { FreshnessBadge } from './PortfolioPanel';

function signClass(value: string | undefined): string {
  if (value === undefined) return '';
  const s = signOf(value);
  return s > 0 ? 'pos' : s < 0 ? 'neg' : '';
}

interface RowProps {
  symbol: string;
  name: string | undefined;
  onSelect?: (symbol: string) => void;
  onRemove: (symbol: string) => void;
  removing: boolean;
}

const WatchRow = memo(function WatchRow({ symbol, name, onSelect, onRemove, removing }: RowProps) {
  const { store } = useRealtime();
  const subscribe = useCallback((listener: () => void) => store.quotes.subscribeSymbol(symbol, listener), [store, symbol]);
  const row = useSyncExternalStore(subscribe, () => store.quotes.row(symbol));
  const quote = row?.quote;
  const direction = row?.direction ?? 'flat';
  const flash = direction === 'flat' ? '' : `flash-${direction}-${(row?.flash ?? 0) % 2}`;

  return (
    <tr data-symbol={symbol} data-tick={direction} data-seq={quote?.seq ?? ''}>
      <th scope="row" className="sym">
        {onSelect ? (
          <button type="button" className="link-btn" onClick={() => onSelect(symbol)} title={`Trade ${symbol}`}>
            {symbol}
          </button>
        ) : (
          symbol
        )}
        {name && <span className="sym-name">{name}</span>}
      </th>
      <td className="spark-cell hide-xs">
        <Link to={`/symbols/${encodeURIComponent(symbol)}`} className="spark-link" aria-label={`${symbol} chart`}>
          <Sparkline symbol={symbol} />
        </Link>
      </td>
      <td className="num hide-sm" data-field="bid">{formatPrice(quote?.bid)}</td>
      <td className="num hide-sm" data-field="ask">{formatPrice(quote?.ask)}</td>
      <td className={`num last tick-${direction} ${flash}`} data-field="last">
        {quote ? formatPrice(quote.last) : <span className="skeleton short" aria-hidden="true" />}
      </td>
      <td className={`num hide-xs ${signClass(quote?.change)}`} data-field="change">
        {quote ? formatDecimal(quote.change, { signed: true }) : '—'}
      </td>
      <td className={`num ${signClass(quote?.changePct)}`} data-field="changePct">
        {quote ? formatPercent(quote.changePct) : '—'}
      </td>
      <td className="actions">
        <button
          type="button"
          className="icon-btn"
          aria-label={`Remove ${symbol} from watchlist`}
          disabled={removing}
          onClick={() => onRemove(symbol)}
        >
          <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
          </svg>
        </button>
      </td>
    </tr>
  );
});

function messageOf(error: unknown): string {
  if (error instanceof WatchlistError || error instanceof ApiError) return error.message;
  if (error instanceof AckError) return error.message.replace(/^[^:]+: /, '');
  return 'Could not update the watchlist. Please try again.';
}

export function Watchlist({ onSelect }: { onSelect?: (symbol: string) => void }) {
  const { store, status, symbols: known, config, addToWatchlist, removeFromWatchlist } = useRealtime();
  const watchlist = useStoreValue(store, (s) => s.watchlist);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  const inputId = useId();
  const errorId = useId();
  const max = config?.maxWatchlistSymbols ?? 50;
  const names = useMemo(() => new Map(known.map((s) => [s.symbol, s.name])), [known]);

  const onRemove = useCallback(
    (symbol: string) => {
      setRemoving(symbol);
      setError(null);
      removeFromWatchlist(symbol)
        .catch((e: unknown) => {
          setError(messageOf(e));
        })
        .finally(() => {
          setRemoving(null);
        });
    },
    [removeFromWatchlist],
  );

  const onSubmit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!draft.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await addToWatchlist(draft);
      setDraft('');
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel watchlist" aria-labelledby="watchlist-title" data-testid="watchlist">
      <header className="panel-head">
        <h2 id="watchlist-title">
          Watchlist{' '}
          {watchlist && (
            <span className="muted count">
              {watchlist.length}/{max}
            </span>
          )}
        </h2>
        <FreshnessBadge state={status.state} />
      </header>
      <form className="inline-form" onSubmit={(e) => void onSubmit(e)} noValidate>
        <label htmlFor={inputId} className="visually-hidden">
          Add symbol to watchlist
        </label>
        <input
          id={inputId}
          name="symbol"
          placeholder="Add symbol, e.g. AAPL"
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          list="known-symbols"
          value={draft}
          maxLength={10}
          onChange={(e) => setDraft(e.target.value.toUpperCase())}
          aria-invalid={error !== null}
          aria-describedby={error ? errorId : undefined}
        />
        <button type="submit" className="btn btn-secondary" disabled={busy || !draft.trim()}>
          Add
        </button>
      </form>
      <datalist id="known-symbols">
        {known.map((s) => (
          <option key={s.symbol} value={s.symbol}>
            {s.name}
          </option>
        ))}
      </datalist>
      {error && (
        <p className="form-error" id={errorId} role="alert">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table className="table quotes">
          <caption className="visually-hidden">Watchlist quotes</caption>
          <thead>
            <tr>
              <th scope="col" className="c-sym">Symbol</th>
              <th scope="col" className="c-spark hide-xs">
                <span className="visually-hidden">Last 30 minutes</span>
              </th>
              <th scope="col" className="num hide-sm c-px">Bid</th>
              <th scope="col" className="num hide-sm c-px">Ask</th>
              <th scope="col" className="num c-px">Last</th>
              <th scope="col" className="num hide-xs c-chg">Chg</th>
              <th scope="col" className="num c-chg">Chg %</th>
              <th scope="col" className="c-act">
                <span className="visually-hidden">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {watchlist?.map((symbol) => (
              <WatchRow
                key={symbol}
                symbol={symbol}
                name={names.get(symbol)}
                onRemove={onRemove}
                removing={removing === symbol}
                {...(onSelect ? { onSelect } : {})}
              />
            ))}
          </tbody>
        </table>
        {watchlist === null && (
          <div className="table-empty" aria-hidden="true">
            <span className="skeleton wide" />
            <span className="skeleton wide" />
          </div>
        )}
        {watchlist?.length === 0 && <p className="table-empty">Your watchlist is empty. Add a symbol above.</p>}
      </div>
    </section>
  );
}
