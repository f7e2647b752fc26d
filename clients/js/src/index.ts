/**
 * @tradewire/client: tradewire's REST login and Socket.IO real-time API, typed from the
 * service's own contract. Runs in browsers, Node 20 and React Native (no DOM needed).
 *
 *   const { sessionId } = await login('https://trade.example.com', { username, password });
 *   const client = new TradewireClient({ url: 'https://trade.example.com', sessionId, transports: ['websocket'] });
 *   client.on('quote:update', (q) => console.log(q.symbol, q.last));
 *   await client.connect();
 *   await client.subscribeWatchlist(['AAPL', 'MSFT']);
 *
 * docs/CLIENTS.md has the whole API.
 */
export { type BackoffOptions, DEFAULT_INITIAL_MS, DEFAULT_MAX_MS, ReconnectBackoff } from './backoff.js';
export {
  type ClientEventNames,
  type ClientEvents,
  type ClientOptions,
  type ClientSocket,
  CATCH_UP_PAGES,
  ClientClosedError,
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_RATE_LIMIT_RETRIES,
  type LifecycleEvents,
  type Missed,
  type PayloadArgs,
  type Resubscribed,
  SERVER_EVENTS,
  type ServerEventHandlers,
  type SocketFactory,
  type SocketFactoryOptions,
  type Subscriptions,
  type Transport,
  TradewireClient,
  type WatchlistOptions,
} from './client.js';
export {
  AckError,
  ackError,
  AckTimeoutError,
  ConnectRefusedError,
  connectError,
  HttpError,
  RateLimitedError,
  ShuttingDownError,
  RealtimeDisabledError,
  TooManyConnectionsError,
  TradewireError,
  UnauthorizedError,
  UnknownSymbolError,
} from './errors.js';
export { type Numbered, UserEventLedger } from './ledger.js';
export {
  endpoint,
  type Fetch,
  type FetchInit,
  type FetchResponse,
  login,
  logout,
  type RestOptions,
  userEvents,
} from './rest.js';
export type * from './types.js';
