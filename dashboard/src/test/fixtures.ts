import type { OrderOut, Portfolio, Quote, TradeOut } from '../api/types';

export function portfolio(overrides: Partial<Portfolio> = {}): Portfolio {
  return {
    userId: 1,
    cash: '100000.00',
    positions: [],
    positionsValue: '0.00',
    totalValue: '100000.00',
    unrealizedPnl: '0.00',
    asOf: '2024-05-01T14:00:00Z',
    ...overrides,
  };
}

export function quote(symbol: string, last: string, seq: number, overrides: Partial<Quote> = {}): Quote {
  return {
    symbol,
    bid: last,
    ask: last,
    last,
    open: '100.00',
    change: '0.00',
    changePct: '0.00',
    seq,
    ts: 1714572000000 + seq,
    ...overrides,
  };
}

export function trade(tradeId: number, overrides: Partial<TradeOut> = {}): TradeOut {
  return {
    tradeId,
    orderId: tradeId + 100,
    symbol: 'AAPL',
    side: 'buy',
    quantity: 10,
    price: '189.14',
    total: '1891.40',
    executedAt: '2024-05-01T14:03:07Z',
    ...overrides,
  };
}

export function order(orderId: number, overrides: Partial<OrderOut> = {}): OrderOut {
  return {
    orderId,
    symbol: 'AAPL',
    side: 'buy',
    type: 'market',
    quantity: 10,
    limitPrice: null,
    status: 'filled',
    rejectReason: null,
    fillPrice: '189.14',
    createdAt: '2024-05-01T14:03:07Z',
    updatedAt: '2024-05-01T14:03:07Z',
    ...overrides,
  };
}

type Route = (init: RequestInit | undefined, url: URL) => unknown;

/**
 * Replaces fetch with a router: keys are "METHOD /path" (query ignored); values return a body
 * (200) or a Response. Unknown routes answer 404. Returns the calls made.
 */
export function mockFetch(routes: Record<string, Route | object>) {
  const calls: { method: string; path: string; url: URL; init: RequestInit | undefined }[] = [];
  const fetchMock = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://localhost');
    const method = (init?.method ?? 'GET').toUpperCase();
    calls.push({ method, path: url.pathname, url, init });
    const route = routes[`${method} ${url.pathname}`];
    if (route === undefined) {
      return Promise.resolve(
        new Response(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Not found' } }), { status: 404 }),
      );
    }
    const result = typeof route === 'function' ? (route as Route)(init, url) : route;
    if (result instanceof Response) return Promise.resolve(result);
    if (result === undefined) return Promise.resolve(new Response(null, { status: 204 }));
    return Promise.resolve(new Response(JSON.stringify(result), { status: 200 }));
  };
  globalThis.fetch = fetchMock;
  return calls;
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}
