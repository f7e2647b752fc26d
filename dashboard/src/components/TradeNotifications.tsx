/**
 * TradeNotifications renders nothing: it turns trade events into toasts.
 * - `trade:executed` (or a new trade found by the REST poller) -> success toast, gone after 5 s,
 *   with a "View Trade" action opening /trades/:tradeId;
 * - `trade:failed` -> error toast with the reason, kept until the user dismisses it.
 * The pushes come through the SDK, which passes each user event on once (by its `seq`); toast
 * ids are derived from trade/order ids as well, so a fill replayed after a recovery and found
 * by the poller too still shows once.
 */
import { useEffect } from 'react';
import { useNavigate } from 'react-router';
import { toast } from 'sonner';
import type { RejectReason, TradeFailed, TradeOut } from '../api/types';
import { formatMoney, formatPrice } from '../lib/decimal';
import { useRealtime } from '../realtime/WebSocketContext';

export const SUCCESS_TOAST_MS = 5000;

export const REJECT_REASONS: Record<RejectReason, string> = {
  INSUFFICIENT_CASH: 'Insufficient cash',
  INSUFFICIENT_SHARES: 'Insufficient shares',
  UNKNOWN_SYMBOL: 'Unknown symbol',
  INVALID_QUANTITY: 'Invalid quantity',
  INVALID_PRICE: 'Invalid price',
  NO_QUOTE: 'No quote available',
};

export function tradeTitle(trade: TradeOut): string {
  const verb = trade.side === 'buy' ? 'Bought' : 'Sold';
  return `${verb} ${trade.quantity.toLocaleString()} ${trade.symbol} @ ${formatPrice(trade.price)}`;
}

export function rejectionToast(failure: TradeFailed): void {
  const { order } = failure;
  const reason = REJECT_REASONS[failure.reason];
  toast.error(`Order rejected: ${order.side} ${order.quantity.toLocaleString()} ${order.symbol}`, {
    id: `order-${order.orderId}`,
    description: failure.message ? `${reason} — ${failure.message}` : reason,
    duration: Infinity,
    closeButton: true,
  });
}

export function TradeNotifications() {
  const { client, store } = useRealtime();
  const navigate = useNavigate();

  useEffect(() => {
    const showExecuted = (trade: TradeOut) => {
      toast.success(tradeTitle(trade), {
        id: `trade-${trade.tradeId}`,
        description: `Total ${formatMoney(trade.total)}`,
        duration: SUCCESS_TOAST_MS,
        action: {
          label: 'View Trade',
          onClick: () => {
            void navigate(`/trades/${trade.tradeId}`);
          },
        },
      });
    };
    const offs = [
      store.onNewTrade(showExecuted),
      client?.on('trade:executed', showExecuted),
      client?.on('trade:failed', rejectionToast),
    ];
    return () => {
      for (const off of offs) off?.();
    };
  }, [client, store, navigate]);

  return null;
}
