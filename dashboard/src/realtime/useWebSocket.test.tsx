import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ioMock, lastSocket, type MockSocket, resetSockets, sockets } from '../test/mockSocket';
import { portfolio, quote, trade } from '../test/fixtures';
import { DashboardStore } from './dashboardStore';
import { QuoteBoard } from './quoteBoard';
import { backoffDelay, DEFAULT_BACKOFF, POLLING_BACKOFF, useWebSocket, type UseWebSocketOptions } from './useWebSocket';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

/** Frames applied synchronously, so quotes reach the board without waiting for rAF. */
const immediateFrames = {
  request: (cb: () => void) => {
    queueMicrotask(cb);
    return 1;
  },
  cancel: () => undefined,
};

function serverAnswers(socket: MockSocket, cash = '100000.00') {
  socket.ackHandlers = {
    'subscribe:portfolio': () => ({ ok: true, portfolio: portfolio({ cash, asOf: new Date().toISOString() }) }),
    'subscribe:trades': () => ({ ok: true, trades: [trade(1)] }),
    'subscribe:watchlist': (payload) => {
      const { symbols } = payload as { symbols: string[] };
      return { ok: true, quotes: symbols.map((s, i) => quote(s, '100.00', i + 1)) };
    },
  };
}

/** Subscription events emitted by the hook, in order (acks run as microtasks). */
const SUBSCRIPTIONS = ['subscribe:portfolio', 'subscribe:trades', 'subscribe:watchlist'];

/** Hook events: what the hook itself listens to on the socket. */
const HOOK_EVENTS = [
  'connect',
  'disconnect',
  'connect_error',
  'server:shutdown',
  'portfolio:update',
  'trade:executed',
  'quotes:update',
  'quote:update',
  'latency:ping',
];

function setup(overrides: Partial<UseWebSocketOptions> = {}) {
  const store = new DashboardStore(new QuoteBoard(immediateFrames));
  store.setWatchlist(['AAPL', 'MSFT']);
  const onUnauthorized = vi.fn();
  const hook = renderHook((props: Partial<UseWebSocketOptions>) =>
    useWebSocket({ store, realtimeEnabled: true, onUnauthorized, ...overrides, ...props }),
  );
  const socket = lastSocket();
  serverAnswers(socket);
  return { store, hook, socket, onUnauthorized };
}

async function flush() {
  await act(async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  });
}

beforeEach(() => {
  resetSockets();
  localStorage.setItem('tradewire.sessionId', 'sess-123'); // what an earlier version left
});

afterEach(() => {
  vi.useRealTimers();
});

describe('useWebSocket', () => {
  it('opens one socket with the path and transports, and is "connecting" until connected', () => {
    const { hook, socket } = setup();
    expect(ioMock).toHaveBeenCalledTimes(1);
    expect(socket.options).toMatchObject({
      path: '/socket.io',
      transports: ['websocket', 'polling'],
      forceNew: true,
      reconnection: true,
      reconnectionDelay: DEFAULT_BACKOFF.delay,
      randomizationFactor: DEFAULT_BACKOFF.randomization,
    });
    expect(socket.connect).toHaveBeenCalledTimes(1);
    expect(hook.result.current.status).toEqual({ state: 'connecting', attempt: 0 });
    expect(hook.result.current.socket).toBe(socket);
  });

  it('never puts a session id in the handshake: the HttpOnly cookie authenticates it', () => {
    const { socket } = setup();
    expect(socket.authPayload()).toEqual({});
    expect(socket.options).toMatchObject({ withCredentials: true });
  });

  it('goes live on connect and re-syncs the store from the subscription acks', async () => {
    const { hook, socket, store } = setup();
    act(() => socket.serverConnect());
    await flush();
    expect(hook.result.current.status).toEqual({ state: 'live', attempt: 0 });
    expect(socket.emitted.map((e) => e.event)).toEqual(SUBSCRIPTIONS);
    expect(socket.emitted[2]?.args[0]).toEqual({ symbols: ['AAPL', 'MSFT'], batch: true });
    expect(store.getState().portfolio?.cash).toBe('100000.00');
    expect(store.getState().trades?.map((t) => t.tradeId)).toEqual([1]);
    expect(store.quotes.row('MSFT')?.quote.last).toBe('100.00');
  });

  it('resubscribes after every reconnect without ever adding a listener twice', async () => {
    const { hook, socket, store } = setup();
    act(() => socket.serverConnect());
    await flush();
    const before = Object.fromEntries(HOOK_EVENTS.map((e) => [e, socket.listenerCount(e)]));
    const managerBefore = socket.io.listenerCount('reconnect_attempt');

    for (let round = 1; round <= 3; round++) {
      act(() => socket.serverDisconnect('transport close'));
      expect(hook.result.current.status.state).toBe('reconnecting');
      act(() => socket.io.fire('reconnect_attempt', 1));
      act(() => socket.io.fire('reconnect_attempt', 2));
      expect(hook.result.current.status).toEqual({ state: 'reconnecting', attempt: 2 });
      serverAnswers(socket, `${100000 + round}.00`);
      act(() => socket.serverConnect());
      await flush();
      expect(hook.result.current.status).toEqual({ state: 'live', attempt: 0 });
      expect(store.getState().portfolio?.cash).toBe(`${100000 + round}.00`);
    }

    for (const event of SUBSCRIPTIONS) expect(socket.count(event)).toBe(4);
    for (const event of HOOK_EVENTS) expect(socket.listenerCount(event)).toBe(before[event]);
    for (const event of HOOK_EVENTS) expect(socket.listenerCount(event)).toBe(1);
    expect(socket.io.listenerCount('reconnect_attempt')).toBe(managerBefore);
    expect(sockets).toHaveLength(1);

    // one pushed event is applied once, not once per connect
    const spy = vi.spyOn(store, 'setPortfolio');
    act(() => socket.push('portfolio:update', portfolio({ cash: '5.00', asOf: new Date(Date.now() + 1000).toISOString() })));
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('answers the server\'s latency:ping probe at once', async () => {
    const { socket } = setup();
    act(() => socket.serverConnect());
    await flush();
    const ack = vi.fn();
    socket.fire('latency:ping', { ts: 1714572000000 }, ack);
    expect(ack).toHaveBeenCalledTimes(1);
    expect(ack).toHaveBeenCalledWith({});
    expect(() => {
      socket.fire('latency:ping', { ts: 1714572000001 });
    }).not.toThrow();
  });

  it('applies live pushes: portfolio, trades and batched quotes', async () => {
    const { socket, store } = setup();
    act(() => socket.serverConnect());
    await flush();
    act(() => {
      socket.push('portfolio:update', portfolio({ cash: '90000.00', asOf: new Date(Date.now() + 5000).toISOString() }));
      socket.push('trade:executed', trade(2));
      socket.push('quotes:update', { quotes: [quote('AAPL', '101.00', 9)] });
    });
    await flush();
    expect(store.getState().portfolio?.cash).toBe('90000.00');
    expect(store.getState().trades?.map((t) => t.tradeId)).toEqual([2, 1]);
    expect(store.quotes.row('AAPL')).toMatchObject({ direction: 'up', quote: { last: '101.00' } });
  });

  it('ignores a portfolio snapshot older than the one shown (ack and push crossing)', async () => {
    const { socket, store } = setup();
    act(() => socket.serverConnect());
    await flush();
    const newer = portfolio({ cash: '1.00', asOf: new Date(Date.now() + 60_000).toISOString() });
    act(() => socket.push('portfolio:update', newer));
    act(() => socket.push('portfolio:update', portfolio({ cash: '2.00', asOf: '2000-01-01T00:00:00Z' })));
    expect(store.getState().portfolio?.cash).toBe('1.00');
  });

  it('a refused handshake ("unauthorized") stops retrying and reports it', () => {
    const { hook, socket, onUnauthorized } = setup();
    act(() => socket.connectError('unauthorized', { code: 'UNAUTHORIZED' }, { refusedByServer: true }));
    expect(hook.result.current.status.state).toBe('unauthorized');
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(socket.disconnect).toHaveBeenCalled();
  });

  it('falls back to polling after 5 failed connects, keeps trying slower, and returns to live', async () => {
    const { hook, socket } = setup({ pollAfterFailures: 5 });
    for (let i = 1; i <= 4; i++) {
      act(() => socket.io.fire('reconnect_attempt', i));
      act(() => socket.connectError('websocket error'));
      expect(hook.result.current.status.state).toBe('connecting');
    }
    expect(hook.result.current.status.attempt).toBe(4);
    act(() => socket.io.fire('reconnect_attempt', 5));
    act(() => socket.connectError('websocket error'));
    expect(hook.result.current.status.state).toBe('polling');
    expect(socket.io.delay).toBe(POLLING_BACKOFF.delay);
    expect(socket.io.delayMax).toBe(POLLING_BACKOFF.delayMax);

    act(() => socket.io.fire('reconnect_attempt', 6));
    expect(hook.result.current.status.state).toBe('polling');

    act(() => socket.serverConnect());
    await flush();
    expect(hook.result.current.status).toEqual({ state: 'live', attempt: 0 });
    expect(socket.io.delay).toBe(DEFAULT_BACKOFF.delay);
  });

  it('does not count failures while the device is offline toward polling', () => {
    const { hook, socket } = setup({ pollAfterFailures: 2 });
    act(() => socket.serverConnect());
    const onLine = vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(false);
    act(() => socket.serverDisconnect('transport close'));
    for (let i = 0; i < 5; i++) act(() => socket.connectError('websocket error'));
    expect(hook.result.current.status.state).toBe('offline');
    onLine.mockReturnValue(true);
    act(() => socket.connectError('websocket error'));
    expect(hook.result.current.status.state).toBe('reconnecting');
    act(() => socket.connectError('websocket error'));
    expect(hook.result.current.status.state).toBe('polling');
  });

  it('reconnects by itself after a server-side disconnect, waiting the shutdown notice delay plus jitter', () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(1); // maximum positive jitter
    const { hook, socket } = setup();
    act(() => socket.serverConnect());
    socket.connect.mockClear();

    act(() => socket.push('server:shutdown', { reconnectAfterMs: 2000 }));
    act(() => socket.serverDisconnect('io server disconnect'));
    expect(hook.result.current.status.state).toBe('reconnecting');

    act(() => {
      vi.advanceTimersByTime(2999);
    });
    expect(socket.connect).not.toHaveBeenCalled();
    act(() => {
      vi.advanceTimersByTime(1);
    });
    expect(socket.connect).toHaveBeenCalledTimes(1);
    expect(hook.result.current.status).toEqual({ state: 'reconnecting', attempt: 1 });
  });

  it('retries by hand when the server refuses the namespace for another reason (e.g. shutting down)', () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter
    const { socket } = setup();
    act(() => socket.serverConnect());
    act(() => socket.serverDisconnect('io server disconnect'));
    act(() => {
      vi.advanceTimersByTime(DEFAULT_BACKOFF.delay);
    });
    socket.connect.mockClear();
    act(() => socket.connectError('shutting_down', { code: 'SHUTTING_DOWN' }, { refusedByServer: true }));
    // docs/WEBSOCKET.md: the delay doubles on every failure (1 s, then 2 s)
    act(() => {
      vi.advanceTimersByTime(2 * DEFAULT_BACKOFF.delay - 1);
    });
    expect(socket.connect).not.toHaveBeenCalled();
    act(() => {
      vi.advanceTimersByTime(1);
    });
    expect(socket.connect).toHaveBeenCalledTimes(1);
  });

  it('says "offline" while the browser is offline and retries at once when it is back', () => {
    const { hook, socket } = setup();
    act(() => socket.serverConnect());
    const onLine = vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(false);
    act(() => socket.serverDisconnect('transport close'));
    act(() => {
      window.dispatchEvent(new Event('offline'));
    });
    expect(hook.result.current.status.state).toBe('offline');

    onLine.mockReturnValue(true);
    socket.connect.mockClear();
    act(() => {
      window.dispatchEvent(new Event('online'));
    });
    expect(socket.connect).toHaveBeenCalledTimes(1);
    expect(hook.result.current.status.state).toBe('reconnecting');
  });

  it('removes its listeners and closes the socket on unmount', async () => {
    const { hook, socket } = setup();
    act(() => socket.serverConnect());
    await flush();
    hook.unmount();
    expect(socket.disconnect).toHaveBeenCalled();
    expect(socket.totalListeners()).toBe(0);
    expect(socket.io.listenerCount('reconnect_attempt')).toBe(0);
  });

  it('opens no socket when real time is disabled, and says "polling"', () => {
    const store = new DashboardStore();
    const { result } = renderHook(() => useWebSocket({ store, realtimeEnabled: false }));
    expect(ioMock).not.toHaveBeenCalled();
    expect(result.current).toMatchObject({ socket: null, status: { state: 'polling', attempt: 0 } });
  });

  it('waits for the config before opening a socket', () => {
    const store = new DashboardStore();
    const { result, rerender } = renderHook((p: { enabled: boolean | null }) => useWebSocket({ store, realtimeEnabled: p.enabled }), {
      initialProps: { enabled: null as boolean | null },
    });
    expect(ioMock).not.toHaveBeenCalled();
    expect(result.current.status.state).toBe('connecting');
    rerender({ enabled: true });
    expect(ioMock).toHaveBeenCalledTimes(1);
  });

  it('retries a rate-limited subscription once it may', async () => {
    vi.useFakeTimers();
    const onSyncError = vi.fn();
    const { socket, store } = setup({ onSyncError });
    let refusals = 1;
    socket.ackHandlers['subscribe:trades'] = () =>
      refusals-- > 0
        ? { ok: false, error: { code: 'RATE_LIMITED', message: 'Too many requests', retryAfterMs: 1500 } }
        : { ok: true, trades: [trade(3)] };
    act(() => socket.serverConnect());
    await flush();
    expect(onSyncError).toHaveBeenCalledTimes(1); // the toast
    expect(socket.count('subscribe:trades')).toBe(1);
    await act(async () => {
      vi.advanceTimersByTime(1499);
      await Promise.resolve();
    });
    expect(socket.count('subscribe:trades')).toBe(1); // not before retryAfterMs
    await act(async () => {
      vi.advanceTimersByTime(1);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    });
    expect(socket.count('subscribe:trades')).toBe(2);
    expect(store.getState().trades?.map((t) => t.tradeId)).toEqual([3]);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt up to the cap, randomized by the factor', () => {
    const b = { delay: 1000, delayMax: 5000, randomization: 0.5 };
    expect(backoffDelay(b, 1, () => 0.5)).toBe(1000);
    expect(backoffDelay(b, 2, () => 0.5)).toBe(2000);
    expect(backoffDelay(b, 10, () => 0.5)).toBe(5000);
    expect(backoffDelay(b, 1, () => 0)).toBe(500);
    expect(backoffDelay(b, 1, () => 1)).toBe(1500);
  });
});
