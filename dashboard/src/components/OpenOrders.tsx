import { useState } from 'react';
import { toast } from 'sonner';
import { api, ApiError } from '../api/client';
import { formatPrice } from '../lib/decimal';
import { formatTime } from '../lib/time';
import { useStoreValue } from '../realtime/dashboardStore';
import { useRealtime } from '../realtime/WebSocketContext';

/** Open limit orders with a cancel button each (DELETE /api/orders/{id}). */
export function OpenOrders() {
  const { store, refreshOpenOrders } = useRealtime();
  const orders = useStoreValue(store, (s) => s.openOrders);
  const [cancelling, setCancelling] = useState<number | null>(null);

  const cancel = async (orderId: number) => {
    setCancelling(orderId);
    try {
      const order = await api.cancelOrder(orderId);
      toast.info(`Cancelled limit order #${order.orderId} (${order.symbol})`, { id: `cancel-${orderId}` });
    } catch (error) {
      toast.error(error instanceof ApiError ? error.message : 'Could not cancel the order.', {
        id: `cancel-${orderId}`,
      });
    } finally {
      setCancelling(null);
      await refreshOpenOrders();
    }
  };

  return (
    <section className="panel open-orders" aria-labelledby="open-orders-title" data-testid="open-orders">
      <header className="panel-head">
        <h2 id="open-orders-title">
          Open orders {orders && orders.length > 0 && <span className="muted count">{orders.length}</span>}
        </h2>
      </header>
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">Open limit orders</caption>
          <thead>
            <tr>
              <th scope="col">Symbol</th>
              <th scope="col" className="c-side">Side</th>
              <th scope="col" className="num c-qty">Qty</th>
              <th scope="col" className="num c-px">Limit</th>
              <th scope="col" className="num hide-sm c-time">Placed</th>
              <th scope="col" className="c-cancel">
                <span className="visually-hidden">Cancel</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {orders?.map((o) => (
              <tr key={o.orderId} data-order-id={o.orderId}>
                <th scope="row" className="sym">{o.symbol}</th>
                <td className={`side side-${o.side}`}>{o.side}</td>
                <td className="num">{o.quantity.toLocaleString()}</td>
                <td className="num">{formatPrice(o.limitPrice)}</td>
                <td className="num hide-sm">{formatTime(o.createdAt)}</td>
                <td className="actions">
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    onClick={() => void cancel(o.orderId)}
                    disabled={cancelling === o.orderId}
                    aria-label={`Cancel order ${o.orderId}: ${o.side} ${o.quantity} ${o.symbol} at ${formatPrice(o.limitPrice)}`}
                  >
                    {cancelling === o.orderId ? 'Cancelling…' : 'Cancel'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {orders === null && (
          <div className="table-empty" aria-hidden="true">
            <span className="skeleton wide" />
            <span className="skeleton wide" />
          </div>
        )}
        {orders?.length === 0 && <p className="table-empty">No open orders.</p>}
      </div>
    </section>
  );
}
