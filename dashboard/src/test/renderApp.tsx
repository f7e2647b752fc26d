/**
 * Renders the real app (router, auth, real-time provider, toaster) against a mocked fetch and
 * the mock socket. `serverConnect` plays a successful handshake with subscription acks.
 */
import { act, render } from '@testing-library/react';
import { StrictMode, type ReactElement, useEffect } from 'react';
import { MemoryRouter, useLocation } from 'react-router';
import { Toaster } from 'sonner';
import { AppRoutes } from '../App';
import type { ConfigOut, Portfolio, Quote, TradeOut } from '../api/types';
import { AuthProvider } from '../auth/AuthContext';
import { markSignedIn } from '../auth/session';
import { mockFetch, order, portfolio, quote, trade } from './fixtures';
import { lastSocket, type MockSocket } from './mockSocket';

export interface ServerState {
  config: ConfigOut;
  loggedIn: boolean;
  watchlist: string[];
  portfolio: Portfolio;
  trades: TradeOut[];
  quotes: Record<string, Quote>;
}

export function defaultServer(overrides: Partial<ServerState> = {}): ServerState {
  return {
    config: { realtimeEnabled: true, socketPath: '/socket.io', maxWatchlistSymbols: 50 },
    loggedIn: true,
    watchlist: ['AAPL', 'MSFT'],
    portfolio: portfolio(),
    trades: [trade(1)],
    quotes: { AAPL: quote('AAPL', '189.14', 1), MSFT: quote('MSFT', '410.20', 1), TSLA: quote('TSLA', '175.00', 1) },
    ...overrides,
  };
}

const current = { path: '' };
function LocationProbe() {
  const { pathname } = useLocation();
  useEffect(() => {
    current.path = pathname;
  }, [pathname]);
  return null;
}
export function location(): string {
  return current.path;
}

export function routesFor(server: ServerState, extra: Record<string, unknown> = {}) {
  const unauthorized = () =>
    new Response(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'Not logged in' } }), { status: 401 });
  const authed = (body: () => unknown) => () => (server.loggedIn ? body() : unauthorized());
  return {
    'GET /api/me': authed(() => ({ userId: 1, username: 'demo', role: 'user' })),
    'GET /api/config': server.config,
    'POST /api/auth/login': () => {
      server.loggedIn = true;
      return { sessionId: 'sess-new', userId: 1, expiresAt: '2099-01-01T00:00:00Z' };
    },
    'POST /api/auth/logout': () => {
      server.loggedIn = false;
      return undefined;
    },
    'GET /api/watchlist': authed(() => ({ symbols: server.watchlist })),
    'PUT /api/watchlist': (init: RequestInit | undefined) => {
      const { symbols } = JSON.parse(init?.body as string) as { symbols: string[] };
      server.watchlist = symbols;
      return { symbols };
    },
    'GET /api/symbols': [
      { symbol: 'AAPL', name: 'Apple' },
      { symbol: 'MSFT', name: 'Microsoft' },
      { symbol: 'TSLA', name: 'Tesla' },
    ],
    'GET /api/orders': authed(() => [order(9, { type: 'limit', status: 'open', limitPrice: '150.00', fillPrice: null })]),
    'GET /api/portfolio': authed(() => server.portfolio),
    'GET /api/trades': authed(() => server.trades),
    'GET /api/quotes': (_: unknown, url: URL) =>
      (url.searchParams.get('symbols') ?? '')
        .split(',')
        .map((s) => server.quotes[s])
        .filter(Boolean),
    ...extra,
  };
}

export function renderApp(
  options: { path?: string; server?: ServerState; routes?: Record<string, unknown>; strict?: boolean } = {},
) {
  const server = options.server ?? defaultServer();
  if (server.loggedIn) markSignedIn();
  const calls = mockFetch(routesFor(server, options.routes));
  const tree: ReactElement = (
    <MemoryRouter initialEntries={[options.path ?? '/']}>
      <AuthProvider>
        <AppRoutes />
        <LocationProbe />
        <Toaster theme="dark" closeButton />
      </AuthProvider>
    </MemoryRouter>
  );
  const view = render(options.strict ? <StrictMode>{tree}</StrictMode> : tree);
  return { ...view, server, calls };
}

/** Answers the socket's subscriptions from `server` (and `extraAcks`) and completes the handshake. */
export async function serverConnect(
  server: ServerState,
  socket: MockSocket = lastSocket(),
  extraAcks: MockSocket['ackHandlers'] = {},
  { recovered = false }: { recovered?: boolean } = {},
) {
  socket.ackHandlers = {
    'subscribe:portfolio': () => ({ ok: true, portfolio: server.portfolio }),
    'subscribe:trades': () => ({ ok: true, trades: server.trades }),
    'subscribe:watchlist': (payload) => ({
      ok: true,
      quotes: (payload as { symbols: string[] }).symbols.map((s) => server.quotes[s]).filter(Boolean),
    }),
    'unsubscribe:watchlist': () => ({ ok: true }),
    ...extraAcks,
  };
  await act(async () => {
    socket.serverConnect({ recovered });
    for (let i = 0; i < 10; i++) await Promise.resolve();
  });
  return socket;
}
