/**
 * The Socket.IO subscriptions of a dashboard and how their acks re-sync the store. Called after
 * every (re)connect: the server forgets a socket's subscriptions when it goes, and whatever
 * happened meanwhile (fills, price moves) arrives through the acks' snapshots.
 */
import type { Socket } from 'socket.io-client';
import type {
  ClientEventAcks,
  ClientEventName,
  ClientEventPayloads,
  ClientToServerEvents,
  ServerToClientEvents,
} from '../api/types';
import type { DashboardStore } from './dashboardStore';

export type AppSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const ACK_TIMEOUT_MS = 8000;

export class AckError extends Error {
  readonly code: string;
  readonly retryAfterMs: number | null;

  constructor(event: string, code: string, message: string, retryAfterMs: number | null = null) {
    super(`${event}: ${message}`);
    this.name = 'AckError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The payload arguments of a client event: one for those that take a payload, else none. */
type PayloadArgs<E extends ClientEventName> = E extends keyof ClientEventPayloads ? [ClientEventPayloads[E]] : [];
/** A client event's successful ack (`{ok: true, ...}`), by event name. */
export type AckOf<E extends ClientEventName> = Extract<ClientEventAcks[E], { ok: true }>;

/**
 * Emits `event` and resolves with the successful ack; rejects with `AckError` on
 * `{ok: false}` and with a timeout error when no ack comes within ACK_TIMEOUT_MS. Payload and
 * ack are typed by the event's name (the generated contract).
 */
export async function request<E extends ClientEventName>(
  socket: AppSocket,
  event: E,
  ...payload: PayloadArgs<E>
): Promise<AckOf<E>> {
  // socket.io-client's typed emitWithAck cannot follow a generic event name: the untyped view
  const untyped = socket as unknown as {
    timeout(ms: number): { emitWithAck(ev: string, ...a: unknown[]): Promise<ClientEventAcks[E] | undefined> };
  };
  const ack = await untyped.timeout(ACK_TIMEOUT_MS).emitWithAck(event, ...payload);
  if (typeof ack !== 'object') throw new AckError(event, 'BAD_ACK', 'malformed acknowledgement');
  if (!ack.ok) {
    const { error } = ack;
    throw new AckError(event, error.code, error.message, error.code === 'RATE_LIMITED' ? error.retryAfterMs : null);
  }
  return ack as AckOf<E>;
}

export function subscribeWatchlist(socket: AppSocket, symbols: string[]): Promise<AckOf<'subscribe:watchlist'>> {
  return request(socket, 'subscribe:watchlist', { symbols, batch: true });
}

export function unsubscribeWatchlist(socket: AppSocket, symbols: string[]): Promise<AckOf<'unsubscribe:watchlist'>> {
  return request(socket, 'unsubscribe:watchlist', { symbols });
}

/**
 * subscribe:portfolio, subscribe:trades and subscribe:watchlist (batch) in parallel, each ack's
 * snapshot written to the store. Resolves when all three have answered; failures are reported
 * through `onError` and do not stop the others.
 */
export async function resubscribe(
  socket: AppSocket,
  store: DashboardStore,
  onError: (error: unknown) => void = () => undefined,
): Promise<void> {
  const jobs: Promise<void>[] = [
    request(socket, 'subscribe:portfolio').then((a) => {
      store.setPortfolio(a.portfolio);
    }),
    request(socket, 'subscribe:trades').then((a) => {
      store.mergeTrades(a.trades);
    }),
    store.watchlistReady().then(async (symbols) => {
      if (symbols.length === 0 || !socket.connected) return;
      const a = await subscribeWatchlist(socket, symbols);
      store.quotes.push(a.quotes);
    }),
  ];
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === 'rejected') onError(r.reason);
}
