import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ClientOptions,
  type Fetch,
  type Missed,
  type UserEventOut,
  type UserEventsPage,
  RateLimitedError,
  RealtimeDisabledError,
  TradewireClient,
  UnauthorizedError,
  UnknownSymbolError,
} from '../src/index.js';
import { type FakeSocket, fakeFactory } from './fakeSocket.js';

const portfolio = (cash: string) => ({
  userId: 1,
  cash,
  positions: [],
  positionsValue: '0.00',
  totalValue: cash,
  unrealizedPnl: '0.00',
  asOf: '2026-01-01T00:00:00Z',
});
const quote = (symbol: string, seq = 1) => ({
  symbol,
  bid: '99.90',
  ask: '100.10',
  last: '100.00',
  open: '100.00',
  change: '0.00',
  changePct: '0.00',
  seq,
  ts: 1,
});
const trade = (tradeId: number) => ({
  tradeId,
  orderId: tradeId,
  symbol: 'AAPL',
  side: 'buy',
  quantity: 1,
  price: '100.00',
  total: '100.00',
  executedAt: '2026-01-01T00:00:00Z',
});

function serverAnswers(socket: FakeSocket): void {
  socket.answers = {
    'subscribe:portfolio': () => ({ ok: true, portfolio: portfolio('100000.00') }),
    'subscribe:trades': () => ({ ok: true, trades: [trade(1)] }),
    'subscribe:watchlist': (payload) => ({
      ok: true,
      quotes: (payload as { symbols: string[] }).symbols.map((s) => quote(s)),
    }),
    'unsubscribe:watchlist': () => ({ ok: true, symbols: [] }),
    'subscribe:ops': () => ({ ok: false, error: { code: 'FORBIDDEN', message: 'administrators only' } }),
  };
}

function setup(options: ClientOptions = {}) {
  const factory = fakeFactory();
  const client = new TradewireClient({
    url: 'http://127.0.0.1:1',
    backoff: { random: () => 0.5 },
    catchUp: false,
    ...options,
    io: factory.io,
  });
  const socket = factory.sockets[0]!;
  serverAnswers(socket);
  return { client, socket };
}

/** Lets pending acks and their `then`s run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TradewireClient: the socket it makes', () => {
  it('runs without DOM globals', () => {
    expect(typeof window).toBe('undefined');
    expect(typeof document).toBe('undefined');
  });

  it('sends the session id when it has one, else an empty auth so the cookie counts', () => {
    const { client, socket } = setup({ sessionId: 'sess-1' });
    expect(socket.authPayload()).toEqual({ sessionId: 'sess-1' });
    client.setSessionId(null);
    expect(socket.authPayload()).toEqual({});
    expect(socket.options).toMatchObject({
      path: '/socket.io',
      withCredentials: true,
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30_000,
    });
  });

  it('passes transports through, for React Native', () => {
    const { socket } = setup({ transports: ['websocket'] });
    expect(socket.options.transports).toEqual(['websocket']);
    expect(socket.url).toBe('http://127.0.0.1:1');
  });

  it('answers latency:ping at once and still tells its handlers', () => {
    const { client, socket } = setup();
    const seen = vi.fn();
    client.on('latency:ping', seen);
    const ack = vi.fn();
    socket.push('latency:ping', { ts: 5 }, ack);
    expect(ack).toHaveBeenCalledTimes(1);
    expect(seen).toHaveBeenCalledWith({ ts: 5 });
  });

  it('delivers server pushes to every handler until it is removed', () => {
    const { client, socket } = setup();
    const first = vi.fn();
    const second = vi.fn();
    const off = client.on('trade:executed', first);
    client.on('trade:executed', second);
    socket.push('trade:executed', trade(7));
    off();
    socket.push('trade:executed', trade(8));
    expect(first.mock.calls).toEqual([[trade(7)]]);
    expect(second.mock.calls).toEqual([[trade(7)], [trade(8)]]);
  });
});

describe('TradewireClient: resubscribe', () => {
  it('sends every remembered subscription again after a reconnect, watchlist and batch flag included', async () => {
    const { client, socket } = setup();
    const connected = client.connect();
    socket.serverConnect();
    await connected;
    expect((await client.subscribePortfolio()).cash).toBe('100000.00');
    expect(await client.subscribeTrades()).toEqual([trade(1)]);
    await client.subscribeWatchlist(['aapl', 'MSFT']);
    await client.subscribeWatchlist(['NVDA'], { batch: true });
    await client.unsubscribeWatchlist(['MSFT']);
    socket.emitted.length = 0;
    const resubscribed = vi.fn();
    client.on('resubscribed', resubscribed);

    socket.serverDisconnect('transport close'); // socket.io reconnects this one by itself
    socket.serverConnect();
    await settle();

    expect(socket.emitted.map((e) => e.event).sort()).toEqual(['subscribe:portfolio', 'subscribe:trades', 'subscribe:watchlist']);
    expect(socket.sent('subscribe:watchlist')).toEqual([[{ symbols: ['AAPL', 'NVDA'], batch: true }]]);
    expect(resubscribed).toHaveBeenCalledWith({
      portfolio: portfolio('100000.00'),
      trades: [trade(1)],
      quotes: [quote('AAPL'), quote('NVDA')],
    });
    expect(client.subscriptions).toEqual({ portfolio: true, trades: true, ops: false, watchlist: ['AAPL', 'NVDA'], batch: true });
  });

  it('sends nothing on connect when nothing was subscribed', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    expect(socket.emitted).toEqual([]);
  });

  it('does not remember symbols the server refused', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    socket.answers['subscribe:watchlist'] = () => ({
      ok: false,
      error: { code: 'UNKNOWN_SYMBOL', message: 'not traded here', symbols: ['ZZZZ'] },
    });
    await expect(client.subscribeWatchlist(['ZZZZ'])).rejects.toBeInstanceOf(UnknownSymbolError);
    expect(client.subscriptions.watchlist).toEqual([]);
  });

  it('a subscription made while disconnected resolves with the next connect\'s resubscription', async () => {
    const { client, socket } = setup();
    void client.connect();
    const quotes = client.subscribeWatchlist(['AAPL']);
    const cash = client.subscribePortfolio().then((p) => p.cash);
    await settle();
    expect(socket.emitted).toEqual([]); // nothing buffered to be sent twice
    socket.serverConnect();
    expect(await quotes).toEqual([quote('AAPL')]);
    expect(await cash).toBe('100000.00');
    expect(socket.sent('subscribe:watchlist')).toHaveLength(1);
  });

  it('forgets subscribe:ops when the user is not an administrator', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    await expect(client.subscribeOps()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.subscriptions.ops).toBe(false);
  });
});

describe('TradewireClient: back-off after a server-side disconnect', () => {
  it('reconnects after server:shutdown\'s reconnectAfterMs, then doubles while refused', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    const scheduled = vi.fn();
    client.on('reconnect_scheduled', scheduled);
    expect(socket.connects).toBe(1);

    socket.push('server:shutdown', { reconnectAfterMs: 2500 });
    socket.serverDisconnect('io server disconnect');
    expect(scheduled).toHaveBeenLastCalledWith({ delayMs: 2500, attempt: 1 });
    vi.advanceTimersByTime(2499);
    expect(socket.connects).toBe(1);
    vi.advanceTimersByTime(1);
    expect(socket.connects).toBe(2);

    socket.refuse('SHUTTING_DOWN'); // not retried by socket.io itself
    expect(scheduled).toHaveBeenLastCalledWith({ delayMs: 5000, attempt: 2 });
    vi.advanceTimersByTime(5000);
    expect(socket.connects).toBe(3);
    socket.refuse('TOO_MANY_CONNECTIONS');
    expect(scheduled).toHaveBeenLastCalledWith({ delayMs: 10_000, attempt: 3 });
    vi.advanceTimersByTime(10_000);
    socket.serverConnect();
    await settle();

    socket.serverDisconnect('io server disconnect'); // no shutdown notice this time: 1 s again
    expect(scheduled).toHaveBeenLastCalledWith({ delayMs: 1000, attempt: 1 });
  });

  it('leaves a dropped transport to socket.io', () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    const scheduled = vi.fn();
    client.on('reconnect_scheduled', scheduled);
    socket.serverDisconnect('transport close');
    socket.transportError();
    vi.advanceTimersByTime(60_000);
    expect(scheduled).not.toHaveBeenCalled();
    expect(socket.connects).toBe(1);
  });

  it('stops on UNAUTHORIZED: connect() rejects and nothing is retried', async () => {
    const { client, socket } = setup({ sessionId: 'stale' });
    const unauthorized = vi.fn();
    client.on('unauthorized', unauthorized);
    const connected = client.connect();
    socket.refuse('UNAUTHORIZED');
    await expect(connected).rejects.toBeInstanceOf(UnauthorizedError);
    expect(unauthorized).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(120_000);
    expect(socket.connects).toBe(1);
  });

  it('stops on REALTIME_DISABLED: connect() rejects and nothing is retried', async () => {
    const { client, socket } = setup();
    const connected = client.connect();
    socket.refuse('REALTIME_DISABLED');
    await expect(connected).rejects.toBeInstanceOf(RealtimeDisabledError);
    vi.advanceTimersByTime(120_000);
    expect(socket.connects).toBe(1);
  });

  it('does not reconnect after a realtime:disabled push and the disconnect that follows', () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    const notices = vi.fn();
    const scheduled = vi.fn();
    client.on('realtime:disabled', notices);
    client.on('reconnect_scheduled', scheduled);
    socket.push('realtime:disabled', { reason: 'not_in_rollout' });
    socket.serverDisconnect('io server disconnect');
    vi.advanceTimersByTime(120_000);
    expect(notices).toHaveBeenCalledWith({ reason: 'not_in_rollout' });
    expect(scheduled).not.toHaveBeenCalled();
    expect(socket.connects).toBe(1);
  });

  it('does not reconnect after close()', () => {
    const { client, socket } = setup();
    void client.connect().catch(() => undefined);
    socket.serverConnect();
    client.close();
    socket.serverDisconnect('io server disconnect');
    vi.advanceTimersByTime(120_000);
    expect(socket.connects).toBe(1);
  });
});

describe('TradewireClient: rate limits', () => {
  it('sends a rate-limited subscription again only after retryAfterMs', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    let refusals = 1;
    socket.answers['subscribe:trades'] = () =>
      refusals-- > 0
        ? { ok: false, error: { code: 'RATE_LIMITED', message: 'too many', retryAfterMs: 3000 } }
        : { ok: true, trades: [trade(2)] };

    const trades = client.subscribeTrades();
    await settle();
    expect(socket.sent('subscribe:trades')).toHaveLength(1);
    vi.advanceTimersByTime(2999);
    await settle();
    expect(socket.sent('subscribe:trades')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    await settle();
    expect(socket.sent('subscribe:trades')).toHaveLength(2);
    expect(await trades).toEqual([trade(2)]);
  });

  it('tells subscription_retry when a resubscription is rate limited, then sends it after retryAfterMs', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await client.subscribePortfolio();
    const retries = vi.fn();
    const resubscribed = vi.fn();
    client.on('subscription_retry', retries);
    client.on('resubscribed', resubscribed);
    let refusals = 1;
    socket.answers['subscribe:portfolio'] = () =>
      refusals-- > 0
        ? { ok: false, error: { code: 'RATE_LIMITED', message: 'too many', retryAfterMs: 5000 } }
        : { ok: true, portfolio: portfolio('5.00') };

    socket.serverDisconnect('transport close');
    socket.serverConnect();
    await settle();
    expect(retries).toHaveBeenCalledTimes(1);
    expect(retries.mock.calls[0]?.[0]).toBeInstanceOf(RateLimitedError);
    expect(resubscribed).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5000);
    await settle();
    expect(resubscribed).toHaveBeenCalledWith({ portfolio: portfolio('5.00') });
  });

  it('gives up after rateLimitRetries and rejects with RateLimitedError', async () => {
    const { client, socket } = setup({ rateLimitRetries: 1 });
    void client.connect();
    socket.serverConnect();
    await settle();
    socket.answers['subscribe:portfolio'] = () => ({
      ok: false,
      error: { code: 'RATE_LIMITED', message: 'too many', retryAfterMs: 100 },
    });
    const result = client.subscribePortfolio().catch((e: unknown) => e);
    await settle();
    vi.advanceTimersByTime(100);
    await settle();
    const error = await result;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(100);
    expect(socket.sent('subscribe:portfolio')).toHaveLength(2);
  });

  it('holds back an event of a kind the rate_limited push named', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    socket.push('rate_limited', { event: 'subscribe:watchlist', retryAfterMs: 2000 });
    const quotes = client.subscribeWatchlist(['AAPL']);
    await settle();
    expect(socket.sent('subscribe:watchlist')).toHaveLength(0);
    vi.advanceTimersByTime(2000);
    await settle();
    expect(await quotes).toEqual([quote('AAPL')]);
  });
});

describe('TradewireClient: user events once each, and what was missed', () => {
  const executed = (seq: number, epoch = 'e1') => ({ ...trade(seq), seq, epoch });
  const page = (lastSeq: number, events: UserEventOut[] = [], epoch = 'e1'): UserEventsPage => ({
    epoch,
    events,
    hasMore: false,
    oldestSeq: events.length > 0 ? 1 : null,
    lastSeq,
  });
  const stored = (seq: number): UserEventOut => ({
    event: 'trade:executed',
    seq,
    epoch: 'e1',
    data: executed(seq),
    createdAt: '2026-01-01T00:00:00Z',
  });

  /** A fetch that answers GET /api/events with `pages` in turn, and records the `after`s. */
  function eventsApi(...pages: UserEventsPage[]) {
    const afters: number[] = [];
    const fetch: Fetch = (url) => {
      afters.push(Number(new URL(url).searchParams.get('after')));
      const body = pages.shift() ?? page(0);
      return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(body) });
    };
    return { afters, fetch };
  }

  it('passes a user event on once, even when it comes again, and a late one out of order', async () => {
    const { client, socket } = setup();
    void client.connect();
    socket.serverConnect();
    await settle();
    const seen: number[] = [];
    client.on('trade:executed', (t) => seen.push((t as { seq: number }).seq));
    for (const seq of [1, 3, 3, 2, 1]) socket.push('trade:executed', executed(seq));
    expect(seen).toEqual([1, 3, 2]);
    expect(client.ledger.floor).toBe(3);
  });

  it('after a reconnect that was not recovered, reports the missed events from GET /api/events', async () => {
    const api = eventsApi(page(3), page(5, [stored(4), { ...stored(5), event: 'portfolio:update' }]));
    const { client, socket } = setup({ catchUp: true, rest: { fetch: api.fetch } });
    const missed = vi.fn();
    client.on('missed', missed);
    void client.subscribePortfolio().catch(() => undefined);
    void client.connect();
    socket.serverConnect();
    await settle();
    expect(api.afters).toEqual([Number.MAX_SAFE_INTEGER]); // the first connect: where it stands
    expect(client.ledger.floor).toBe(3);
    expect(missed).not.toHaveBeenCalled();

    socket.serverDisconnect('transport close');
    socket.serverConnect({ recovered: false });
    await settle();
    expect(api.afters).toEqual([Number.MAX_SAFE_INTEGER, 3]);
    expect(missed).toHaveBeenCalledTimes(1);
    const [{ events, fills, complete }] = missed.mock.calls[0] as [Missed];
    expect(events.map((e) => e.seq)).toEqual([4, 5]);
    expect([fills, complete]).toEqual([1, true]);
    expect(client.ledger.floor).toBe(5);

    // a push of one of them now is a duplicate
    const pushed = vi.fn();
    client.on('trade:executed', pushed);
    socket.push('trade:executed', executed(4));
    expect(pushed).not.toHaveBeenCalled();
  });

  it('a recovered connect says so and does not ask: the server replays what was missed', async () => {
    const api = eventsApi(page(3));
    const { client, socket } = setup({ catchUp: true, rest: { fetch: api.fetch } });
    const recovered = vi.fn();
    const missed = vi.fn();
    client.on('recovered', recovered);
    client.on('missed', missed);
    void client.connect();
    socket.serverConnect();
    await settle();
    socket.serverDisconnect('transport close');
    socket.serverConnect({ recovered: true });
    await settle();
    expect(recovered).toHaveBeenCalledTimes(1);
    expect(client.recovered).toBe(true);
    expect(api.afters).toHaveLength(1);
    expect(missed).not.toHaveBeenCalled();
  });

  it('reports a failed catch-up instead of guessing', async () => {
    const failing: Fetch = () => Promise.resolve({ ok: false, status: 503, json: () => Promise.resolve({}) });
    const { client, socket } = setup({ catchUp: true, rest: { fetch: failing } });
    const errors = vi.fn();
    client.on('catch_up_error', errors);
    void client.connect();
    socket.serverConnect();
    await settle();
    expect(errors).toHaveBeenCalledTimes(1);
  });
});
