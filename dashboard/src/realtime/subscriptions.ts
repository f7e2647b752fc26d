/**
 * The dashboard's Socket.IO calls, on the SDK (@tradewire/client, clients/js): its typed errors
 * and, for the hooks that talk to the raw socket (the symbol page's quotes, the ops figures),
 * one typed `request`. The watchlist, portfolio and trades subscriptions go through the SDK's
 * `TradewireClient`, which remembers them and sends them again after every reconnect.
 */
import {
  AckError,
  ackError,
  AckTimeoutError,
  type AckOf,
  type ClientEventAcks,
  type ClientEventName,
  type ClientSocket,
  type PayloadArgs,
  RateLimitedError,
  type TradewireClient,
  TradewireError,
} from '@tradewire/client';

export { AckError, RateLimitedError };
export type { AckOf };

export type AppSocket = ClientSocket;

export const ACK_TIMEOUT_MS = 8000;

/**
 * Emits `event` on `socket` and resolves with the successful ack; rejects with the SDK's
 * `AckError` (e.g. `RateLimitedError`) on `{ok: false}` and `AckTimeoutError` when no ack comes
 * within ACK_TIMEOUT_MS. Payload and ack are typed by the event's name (the generated contract).
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
  let ack: ClientEventAcks[E] | undefined;
  try {
    ack = await untyped.timeout(ACK_TIMEOUT_MS).emitWithAck(event, ...payload);
  } catch {
    throw new AckTimeoutError(event, ACK_TIMEOUT_MS);
  }
  if (typeof ack !== 'object') throw new TradewireError(`${event}: malformed acknowledgement`);
  if (!ack.ok) throw ackError(event, ack.error);
  return ack as AckOf<E>;
}

/** The watchlist's symbols, batched; remembered by the client for every reconnect. */
export function subscribeWatchlist(client: TradewireClient, symbols: string[]) {
  return client.subscribeWatchlist(symbols, { batch: true });
}

export function unsubscribeWatchlist(client: TradewireClient, symbols: string[]) {
  return client.unsubscribeWatchlist(symbols);
}
