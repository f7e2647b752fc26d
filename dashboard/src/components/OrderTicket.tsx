/**
 * Order ticket: symbol, side, market/limit, quantity, limit price -> POST /api/orders with a
 * fresh Idempotency-Key. Shows the REST result: filled (with price), open (limit resting) or
 * rejected (with the reason). Fields keep their place whatever the order type: the limit price
 * is disabled, not removed, for market orders, so nothing shifts.
 */
import { type SyntheticEvent, useEffect, useId, useState, useSyncExternalStore, useCallback } from 'react';
import { api, ApiError } from '../api/client';
import type { OrderOut, OrderType, Side } from '../api/types';
import { compareDecimal, formatMoney, formatPrice, isDecimal, multiplyDecimal } from '../lib/decimal';
import { useRealtime } from '../realtime/WebSocketContext';
import { REJECT_REASONS, rejectionToast } from './TradeNotifications';

const MAX_QUANTITY = 1_000_000;
const TICKER = /^[A-Z.]{1,10}$/;
const TICKET_QUOTE_REFRESH_MS = 3000;

interface Props {
  symbol: string;
  onSymbolChange: (symbol: string) => void;
}

type Result =
  | { kind: 'order'; order: OrderOut }
  | { kind: 'error'; message: string };

function validate(symbol: string, quantity: string, type: OrderType, limitPrice: string): string | null {
  if (!TICKER.test(symbol)) return 'Enter a ticker symbol (letters only, up to 10).';
  if (!/^\d+$/.test(quantity) || Number(quantity) < 1) return 'Quantity must be a whole number of at least 1.';
  if (Number(quantity) > MAX_QUANTITY) return `Quantity can be at most ${MAX_QUANTITY.toLocaleString()}.`;
  if (type === 'limit') {
    if (!isDecimal(limitPrice) || compareDecimal(limitPrice, '0') <= 0) return 'Enter a limit price above 0.';
    if (compareDecimal(limitPrice, '1000000') > 0) return 'Limit price can be at most 1,000,000.';
    if (/\.\d{5,}$/.test(limitPrice)) return 'Limit price has at most 4 decimals.';
  }
  return null;
}

function describe(order: OrderOut): string {
  const what = `${order.side === 'buy' ? 'Buy' : 'Sell'} ${order.quantity.toLocaleString()} ${order.symbol}`;
  switch (order.status) {
    case 'filled':
      return `${what} filled at ${formatPrice(order.fillPrice)}.`;
    case 'open':
      return `${what} placed: limit ${formatPrice(order.limitPrice)}, waiting to fill.`;
    case 'cancelled':
      return `${what} cancelled.`;
    case 'rejected':
      return `${what} rejected: ${order.rejectReason ? REJECT_REASONS[order.rejectReason] : 'rejected by the exchange'}.`;
  }
}

export function OrderTicket({ symbol, onSymbolChange }: Props) {
  const { store, status, symbols: known, refreshOpenOrders } = useRealtime();
  const [side, setSide] = useState<Side>('buy');
  const [type, setType] = useState<OrderType>('market');
  const [quantity, setQuantity] = useState('1');
  const [limitPrice, setLimitPrice] = useState('');
  const [submitting, setSubmitting] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const [fetchedQuote, setFetchedQuote] = useState<{ symbol: string; bid: string; ask: string } | null>(null);
  const id = useId();

  const subscribe = useCallback((l: () => void) => store.quotes.subscribeSymbol(symbol, l), [store, symbol]);
  const row = useSyncExternalStore(subscribe, () => store.quotes.row(symbol));
  const quote = row?.quote ?? (fetchedQuote?.symbol === symbol ? fetchedQuote : undefined);

  // A symbol not on the watchlist has no live quote: fetch one for the estimate, and again
  // every few seconds while the ticket shows it and the service is reachable.
  const reachable = status.state === 'live' || status.state === 'polling';
  useEffect(() => {
    if (!reachable || !TICKER.test(symbol) || store.quotes.row(symbol)) return;
    if (known.length > 0 && !known.some((s) => s.symbol === symbol)) return;
    let cancelled = false;
    const load = () => {
      if (store.quotes.row(symbol)) return;
      api
        .quotes([symbol])
        .then(([q]) => {
          if (!cancelled && q) setFetchedQuote({ symbol: q.symbol, bid: q.bid, ask: q.ask });
        })
        .catch(() => undefined);
    };
    const first = setTimeout(load, 300);
    const again = setInterval(load, TICKET_QUOTE_REFRESH_MS);
    return () => {
      cancelled = true;
      clearTimeout(first);
      clearInterval(again);
    };
  }, [symbol, store, known, reachable]);

  const reference = type === 'limit' && isDecimal(limitPrice) ? limitPrice : side === 'buy' ? quote?.ask : quote?.bid;
  const estimate =
    reference && /^\d+$/.test(quantity) && Number(quantity) <= MAX_QUANTITY
      ? multiplyDecimal(reference, Number(quantity))
      : null;

  const onSubmit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const problem = validate(symbol, quantity, type, limitPrice.trim());
    if (problem) {
      setResult({ kind: 'error', message: problem });
      return;
    }
    setSubmitting(true);
    setResult(null);
    try {
      const order = await api.placeOrder({
        symbol,
        side,
        quantity: Number(quantity),
        type,
        ...(type === 'limit' ? { limitPrice: limitPrice.trim() } : {}),
      });
      setResult({ kind: 'order', order });
      if (order.status === 'open') void refreshOpenOrders();
      // Live, the server's trade:failed raises the toast; without a socket, raise it here.
      if (order.status === 'rejected' && status.state !== 'live' && order.rejectReason) {
        rejectionToast({ order, reason: order.rejectReason, message: '' });
      }
    } catch (error) {
      const message =
        error instanceof ApiError ? error.message : 'The order could not be sent. Check your connection and try again.';
      setResult({ kind: 'error', message });
    } finally {
      setSubmitting(false);
    }
  };

  const resultStatus = result?.kind === 'order' ? result.order.status : result ? 'error' : undefined;

  return (
    <section className="panel ticket" aria-labelledby={`${id}-title`} data-testid="order-ticket">
      <header className="panel-head">
        <h2 id={`${id}-title`}>Order ticket</h2>
      </header>
      <form onSubmit={(e) => void onSubmit(e)} noValidate className="ticket-form">
        <div className="field">
          <label htmlFor={`${id}-symbol`}>Symbol</label>
          <input
            id={`${id}-symbol`}
            name="symbol"
            value={symbol}
            onChange={(e) => onSymbolChange(e.target.value.toUpperCase().trim())}
            list="known-symbols"
            autoComplete="off"
            autoCapitalize="characters"
            spellCheck={false}
            maxLength={10}
            required
          />
        </div>
        <fieldset className="segmented side" aria-label="Side">
          <legend className="visually-hidden">Side</legend>
          {(['buy', 'sell'] as const).map((s) => (
            <label key={s} className={`seg seg-${s}`} data-checked={side === s}>
              <input type="radio" name="side" value={s} checked={side === s} onChange={() => setSide(s)} />
              <span>{s === 'buy' ? 'Buy' : 'Sell'}</span>
            </label>
          ))}
        </fieldset>
        <fieldset className="segmented type" aria-label="Order type">
          <legend className="visually-hidden">Order type</legend>
          {(['market', 'limit'] as const).map((t) => (
            <label key={t} className="seg" data-checked={type === t}>
              <input type="radio" name="type" value={t} checked={type === t} onChange={() => setType(t)} />
              <span>{t === 'market' ? 'Market' : 'Limit'}</span>
            </label>
          ))}
        </fieldset>
        <div className="field-row">
          <div className="field">
            <label htmlFor={`${id}-qty`}>Quantity</label>
            <input
              id={`${id}-qty`}
              name="quantity"
              type="number"
              inputMode="numeric"
              min={1}
              max={MAX_QUANTITY}
              step={1}
              value={quantity}
              onChange={(e) => setQuantity(e.target.value)}
              required
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-limit`}>Limit price</label>
            <input
              id={`${id}-limit`}
              name="limitPrice"
              inputMode="decimal"
              placeholder={type === 'market' ? 'Market' : '0.00'}
              value={type === 'market' ? '' : limitPrice}
              disabled={type === 'market'}
              onChange={(e) => setLimitPrice(e.target.value.replace(',', '.'))}
              autoComplete="off"
            />
          </div>
        </div>
        <dl className="ticket-quote">
          <div>
            <dt>Bid</dt>
            <dd className="num">{formatPrice(quote?.bid)}</dd>
          </div>
          <div>
            <dt>Ask</dt>
            <dd className="num">{formatPrice(quote?.ask)}</dd>
          </div>
          <div>
            <dt>Est. total</dt>
            <dd className="num">{formatMoney(estimate)}</dd>
          </div>
        </dl>
        <button type="submit" className={`btn btn-block btn-${side}`} disabled={submitting}>
          {submitting ? 'Sending…' : `${side === 'buy' ? 'Buy' : 'Sell'} ${symbol || ''}`.trim()}
        </button>
      </form>
      <div className="ticket-result" role="status" aria-live="polite" data-order-status={resultStatus}>
        {result?.kind === 'order' && (
          <p className={`result result-${result.order.status}`}>
            <strong>{result.order.status === 'rejected' ? 'Rejected' : result.order.status === 'open' ? 'Open' : 'Filled'}</strong>{' '}
            {describe(result.order)}
          </p>
        )}
        {result?.kind === 'error' && <p className="result result-error">{result.message}</p>}
      </div>
    </section>
  );
}
