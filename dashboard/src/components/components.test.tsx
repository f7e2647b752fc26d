import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { connectionLabel } from './ConnectionStatus';
import { order, portfolio, quote, trade } from '../test/fixtures';
import { ioMock, lastSocket, resetSockets } from '../test/mockSocket';
import { location, renderApp, serverConnect } from '../test/renderApp';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

async function liveDashboard(options: Parameters<typeof renderApp>[0] = {}) {
  const view = renderApp(options);
  await waitFor(() => expect(ioMock).toHaveBeenCalled());
  await screen.findByTestId('watchlist');
  // the watchlist must be loaded before the handshake so the subscription includes it
  await waitFor(() => expect(within(screen.getByTestId('watchlist')).getByText('AAPL')).toBeInTheDocument());
  const socket = await serverConnect(view.server);
  return { ...view, socket };
}

function toasts(type?: string) {
  return [...document.querySelectorAll(`[data-sonner-toast]${type ? `[data-type="${type}"]` : ''}`)];
}

beforeEach(() => {
  resetSockets();
});

describe('ConnectionStatus', () => {
  it('labels every state, with the attempt number while reconnecting', () => {
    expect(connectionLabel({ state: 'live', attempt: 0 })).toBe('Live');
    expect(connectionLabel({ state: 'connecting', attempt: 0 })).toBe('Connecting…');
    expect(connectionLabel({ state: 'reconnecting', attempt: 3 })).toBe('Reconnecting (attempt 3)');
    expect(connectionLabel({ state: 'offline', attempt: 2 })).toBe('Offline');
    expect(connectionLabel({ state: 'polling', attempt: 7 })).toBe('Polling');
  });

  it('follows the socket in the header', async () => {
    const { socket } = await liveDashboard();
    const el = () => document.querySelector('[data-connection-state]');
    expect(el()).toHaveTextContent('Live');
    act(() => socket.serverDisconnect('transport close'));
    act(() => socket.io.fire('reconnect_attempt', 1));
    act(() => socket.io.fire('reconnect_attempt', 2));
    expect(el()).toHaveAttribute('data-connection-state', 'reconnecting');
    expect(el()).toHaveTextContent('Reconnecting (attempt 2)');
  });
});

describe('PortfolioPanel', () => {
  it('shows a loading state, then the snapshot, then live updates; stale while reconnecting', async () => {
    const view = renderApp();
    const panel = await screen.findByTestId('portfolio');
    expect(panel).toHaveAttribute('aria-busy', 'true');
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = await serverConnect(view.server);
    expect(panel).toHaveAttribute('aria-busy', 'false');
    expect(within(panel).getByText('$100,000.00', { selector: '[data-field="cash"]' })).toBeInTheDocument();
    expect(within(panel).getByText('Live')).toBeInTheDocument();

    act(() =>
      socket.push(
        'portfolio:update',
        portfolio({
          cash: '98108.60',
          positionsValue: '1891.40',
          positions: [
            { symbol: 'AAPL', quantity: 10, avgCost: '189.14', last: '189.14', marketValue: '1891.40', unrealizedPnl: '0.00' },
          ],
          asOf: new Date(Date.now() + 1000).toISOString(),
        }),
      ),
    );
    expect(within(panel).getByText('$98,108.60')).toBeInTheDocument();
    expect(within(panel).getByRole('rowheader', { name: 'AAPL' })).toBeInTheDocument();

    act(() => socket.serverDisconnect('transport close'));
    expect(panel).toHaveAttribute('data-stale', 'true');
    expect(within(panel).getByText('Stale')).toBeInTheDocument();
    expect(within(panel).getByText('$98,108.60')).toBeInTheDocument(); // the data stays
  });
});

describe('TradeNotifications', () => {
  it('trade:executed -> success toast with "View Trade" that opens the trade page', async () => {
    const { socket } = await liveDashboard();
    act(() => socket.push('trade:executed', trade(7, { symbol: 'MSFT', quantity: 3, price: '410.20', total: '1230.60' })));
    const toast = await screen.findByText('Bought 3 MSFT @ 410.20');
    expect(toast.closest('[data-sonner-toast]')).toHaveAttribute('data-type', 'success');
    expect(screen.getByText('Total $1,230.60')).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('button', { name: 'View Trade' }));
    await waitFor(() => expect(location()).toBe('/trades/7'));
    expect(await screen.findByRole('heading', { name: 'Trade #7' })).toBeInTheDocument();
    const page = screen.getByTestId('trade-page');
    expect(within(page).getByText(/^Bought 3/)).toHaveTextContent('Bought 3 MSFT at 410.20');
    expect(page.querySelector('[data-trade-id]')).toHaveAttribute('data-trade-id', '7');
  });

  it('"View Trade" on another trade\'s page opens the new trade, not the one shown before', async () => {
    const view = renderApp({
      path: '/trades/1',
      routes: {
        'GET /api/trades/1': trade(1, { symbol: 'AAPL', quantity: 10 }),
        'GET /api/trades/7': () => new Response(null, { status: 503 }), // only the push knows it
      },
    });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = await serverConnect(view.server);
    const page = await screen.findByTestId('trade-page');
    expect(await within(page).findByText(/^Bought 10/)).toHaveTextContent('Bought 10 AAPL');

    act(() => socket.push('trade:executed', trade(7, { symbol: 'MSFT', quantity: 3, price: '410.20' })));
    await userEvent.setup().click(await screen.findByRole('button', { name: 'View Trade' }));
    await waitFor(() => expect(location()).toBe('/trades/7'));
    expect(await screen.findByRole('heading', { name: 'Trade #7' })).toBeInTheDocument();
    const shown = screen.getByTestId('trade-page');
    expect(within(shown).getByText(/^Bought/)).toHaveTextContent('Bought 3 MSFT at 410.20');
    expect(shown.querySelector('[data-trade-id]')).toHaveAttribute('data-trade-id', '7');
    expect(within(shown).queryByText('AAPL')).not.toBeInTheDocument();
  });

  it('success toasts leave after 5 s; failure toasts stay until dismissed', async () => {
    const { socket } = await liveDashboard();
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      act(() => {
        socket.push('trade:executed', trade(8));
        socket.push('trade:failed', {
          order: order(55, { status: 'rejected', rejectReason: 'INSUFFICIENT_CASH', fillPrice: null, quantity: 100000 }),
          reason: 'INSUFFICIENT_CASH',
          message: 'Not enough cash for this order.',
        });
      });
      await act(async () => {
        await vi.advanceTimersByTimeAsync(100);
      });
      expect(toasts('success')).toHaveLength(1);
      expect(toasts('error')).toHaveLength(1);
      expect(screen.getByText('Insufficient cash — Not enough cash for this order.')).toBeInTheDocument();

      await act(async () => {
        await vi.advanceTimersByTimeAsync(6000);
      });
      await act(async () => {
        await vi.advanceTimersByTimeAsync(1000);
      });
      expect(toasts('success')).toHaveLength(0);
      expect(toasts('error')).toHaveLength(1);

      await act(async () => {
        await vi.advanceTimersByTimeAsync(60_000);
      });
      expect(toasts('error')).toHaveLength(1);

      const close = within(toasts('error')[0] as HTMLElement).getByRole('button', { name: /close/i });
      act(() => close.click());
      await act(async () => {
        await vi.advanceTimersByTimeAsync(1000);
      });
      expect(toasts('error')).toHaveLength(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('the same trade seen twice (socket and poll) is announced once', async () => {
    const { socket } = await liveDashboard();
    act(() => {
      socket.push('trade:executed', trade(9));
      socket.push('trade:executed', trade(9));
    });
    await screen.findByText('Bought 10 AAPL @ 189.14');
    expect(toasts('success')).toHaveLength(1);
  });
});

describe('RateLimitNotices', () => {
  it('shows the server\'s rate_limited event as a "Slow down" toast', async () => {
    const { socket } = await liveDashboard();
    act(() => socket.push('rate_limited', { event: 'subscribe:watchlist', retryAfterMs: 2500 }));
    expect(await screen.findByText('Slow down: too many watchlist requests; retry in 3 s')).toBeInTheDocument();
  });

  it('shows a REST 429 the same way', async () => {
    await liveDashboard({
      routes: {
        'POST /api/orders': () =>
          new Response(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Too many' } }), {
            status: 429,
            headers: { 'Retry-After': '4' },
          }),
      },
    });
    await userEvent.setup().click(screen.getByRole('button', { name: 'Buy AAPL' }));
    expect(await screen.findByText('Slow down: too many order requests; retry in 4 s')).toBeInTheDocument();
  });
});

describe('Watchlist', () => {
  it('shows the acked quotes, then flashes green on an up-tick and red on a down-tick', async () => {
    const { socket } = await liveDashboard();
    const subscribe = socket.emitted.find((e) => e.event === 'subscribe:watchlist');
    expect(subscribe?.args[0]).toEqual({ symbols: ['AAPL', 'MSFT'], batch: true });
    const list = screen.getByTestId('watchlist');
    const row = () => list.querySelector('tr[data-symbol="AAPL"]') as HTMLElement;
    await waitFor(() => expect(row().querySelector('[data-field="last"]')).toHaveTextContent('189.14'));

    act(() => socket.push('quotes:update', { quotes: [quote('AAPL', '189.50', 2)] }));
    await waitFor(() => expect(row()).toHaveAttribute('data-tick', 'up'));
    const last = row().querySelector('[data-field="last"]') as HTMLElement;
    expect(last).toHaveTextContent('189.50');
    expect(last.className).toMatch(/tick-up flash-up-1/);

    act(() => socket.push('quotes:update', { quotes: [quote('AAPL', '188.00', 3)] }));
    await waitFor(() => expect(row()).toHaveAttribute('data-tick', 'down'));
    expect(row().querySelector('[data-field="last"]')?.className).toMatch(/tick-down flash-down-0/);
  });

  it('adds a symbol: saved with PUT, subscribed live with batch', async () => {
    const { socket, calls, server } = await liveDashboard();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Add symbol to watchlist'), 'tsla');
    await user.click(within(screen.getByTestId('watchlist')).getByRole('button', { name: 'Add' }));
    await waitFor(() => expect(screen.getByTestId('watchlist').querySelector('tr[data-symbol="TSLA"]')).not.toBeNull());
    expect(server.watchlist).toEqual(['AAPL', 'MSFT', 'TSLA']);
    const put = calls.find((c) => c.method === 'PUT' && c.path === '/api/watchlist');
    expect(JSON.parse(put?.init?.body as string)).toEqual({ symbols: ['AAPL', 'MSFT', 'TSLA'] });
    expect(socket.emitted.filter((e) => e.event === 'subscribe:watchlist').at(-1)?.args[0]).toEqual({
      symbols: ['TSLA'],
      batch: true,
    });
    await waitFor(() =>
      expect(screen.getByTestId('watchlist').querySelector('tr[data-symbol="TSLA"] [data-field="last"]')).toHaveTextContent('175.00'),
    );
  });

  it('refuses unknown and duplicate symbols with a message', async () => {
    await liveDashboard();
    const user = userEvent.setup();
    const input = screen.getByLabelText('Add symbol to watchlist');
    await user.type(input, 'ZZZZ');
    await user.click(within(screen.getByTestId('watchlist')).getByRole('button', { name: 'Add' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Unknown symbol ZZZZ.');
    await user.clear(input);
    await user.type(input, 'AAPL');
    await user.click(within(screen.getByTestId('watchlist')).getByRole('button', { name: 'Add' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('AAPL is already on your watchlist.');
  });

  it('removes a symbol: saved with PUT and unsubscribed', async () => {
    const { socket, server } = await liveDashboard();
    await userEvent.setup().click(screen.getByRole('button', { name: 'Remove MSFT from watchlist' }));
    await waitFor(() => expect(screen.getByTestId('watchlist').querySelector('tr[data-symbol="MSFT"]')).toBeNull());
    expect(server.watchlist).toEqual(['AAPL']);
    expect(socket.emitted.find((e) => e.event === 'unsubscribe:watchlist')?.args[0]).toEqual({ symbols: ['MSFT'] });
  });
});

describe('OrderTicket', () => {
  it('places a market order with an Idempotency-Key and shows the fill', async () => {
    const { calls } = await liveDashboard({
      routes: { 'POST /api/orders': () => new Response(JSON.stringify(order(12, { quantity: 5 })), { status: 201 }) },
    });
    const user = userEvent.setup();
    const ticket = screen.getByTestId('order-ticket');
    const qty = within(ticket).getByLabelText('Quantity');
    await user.clear(qty);
    await user.type(qty, '5');
    expect(within(ticket).getByText('$945.70')).toBeInTheDocument(); // 5 × ask 189.14
    await user.click(within(ticket).getByRole('button', { name: 'Buy AAPL' }));
    expect(await within(ticket).findByText(/filled at 189\.14/)).toBeInTheDocument();
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/orders');
    expect(JSON.parse(post?.init?.body as string)).toEqual({ symbol: 'AAPL', side: 'buy', quantity: 5, type: 'market' });
    expect((post?.init?.headers as Record<string, string>)['Idempotency-Key']).toMatch(/.{16,}/);
    expect(ticket.querySelector('[data-order-status]')).toHaveAttribute('data-order-status', 'filled');
  });

  it('shows a rejected order with its reason', async () => {
    await liveDashboard({
      routes: {
        'POST /api/orders': () =>
          new Response(
            JSON.stringify(order(13, { side: 'sell', status: 'rejected', rejectReason: 'INSUFFICIENT_SHARES', fillPrice: null })),
            { status: 201 },
          ),
      },
    });
    const user = userEvent.setup();
    const ticket = screen.getByTestId('order-ticket');
    await user.click(within(ticket).getByRole('radio', { name: 'Sell' }));
    await user.click(within(ticket).getByRole('button', { name: 'Sell AAPL' }));
    expect(await within(ticket).findByText(/rejected: Insufficient shares/)).toBeInTheDocument();
  });

  it('sends limit orders with the price as a decimal string, and validates it first', async () => {
    const { calls } = await liveDashboard({
      routes: {
        'POST /api/orders': () =>
          new Response(JSON.stringify(order(14, { type: 'limit', status: 'open', limitPrice: '150.25', fillPrice: null })), {
            status: 201,
          }),
      },
    });
    const user = userEvent.setup();
    const ticket = screen.getByTestId('order-ticket');
    const price = within(ticket).getByLabelText('Limit price');
    expect(price).toBeDisabled();
    await user.click(within(ticket).getByRole('radio', { name: 'Limit' }));
    expect(price).toBeEnabled();
    await user.click(within(ticket).getByRole('button', { name: 'Buy AAPL' }));
    expect(await within(ticket).findByText('Enter a limit price above 0.')).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/orders')).toBe(false);

    await user.type(price, '150.25');
    await user.click(within(ticket).getByRole('button', { name: 'Buy AAPL' }));
    expect(await within(ticket).findByText(/limit 150\.25, waiting to fill/)).toBeInTheDocument();
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/orders');
    expect(JSON.parse(post?.init?.body as string)).toMatchObject({ type: 'limit', limitPrice: '150.25' });
  });
});

describe('OpenOrders', () => {
  it('lists open limit orders and cancels one', async () => {
    let open = [order(9, { type: 'limit', status: 'open', limitPrice: '150.00', fillPrice: null })];
    const { calls } = await liveDashboard({
      routes: {
        'GET /api/orders': () => open,
        'DELETE /api/orders/9': () => {
          const cancelled = { ...open[0], status: 'cancelled' };
          open = [];
          return cancelled;
        },
      },
    });
    const panel = screen.getByTestId('open-orders');
    await waitFor(() => expect(panel.querySelector('tr[data-order-id="9"]')).not.toBeNull());
    await userEvent.setup().click(within(panel).getByRole('button', { name: /Cancel order 9/ }));
    await waitFor(() => expect(panel.querySelector('tr[data-order-id="9"]')).toBeNull());
    expect(within(panel).getByText('No open orders.')).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'DELETE' && c.path === '/api/orders/9')).toBe(true);
  });
});

describe('pages', () => {
  it('the trade history lists trades with links to their pages', async () => {
    const view = renderApp({ path: '/trades' });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    await serverConnect(view.server);
    const table = await screen.findByRole('table', { name: 'Trades' });
    const row = table.querySelector('tr[data-trade-id="1"]') as HTMLElement;
    expect(within(row).getByRole('link', { name: 'AAPL' })).toHaveAttribute('href', '/symbols/AAPL');
    expect(within(row).getAllByRole('link')[0]).toHaveAttribute('href', '/trades/1');
  });

  it('a trade page of an unknown trade says so', async () => {
    renderApp({ path: '/trades/999' });
    expect(await screen.findByText('Trade not found.')).toBeInTheDocument();
  });

  it('a trade page loads the trade from REST', async () => {
    renderApp({ path: '/trades/5', routes: { 'GET /api/trades/5': trade(5, { side: 'sell', symbol: 'TSLA' }) } });
    expect(await screen.findByText(/Sold 10/)).toBeInTheDocument();
    expect(lastSocket).toBeDefined();
  });
});

describe('Recovery and what was missed', () => {
  const numbered = <T extends object>(payload: T, seq: number) => ({ ...payload, seq, epoch: 'e1' });
  const stored = (event: string, seq: number, data: object) => ({
    event,
    seq,
    epoch: 'e1',
    data: numbered(data, seq),
    createdAt: '2026-01-01T00:00:00Z',
  });
  /** GET /api/events: where the history stands at first (seq 3), then what came after it. */
  function eventsRoute(afterThree: ReturnType<typeof stored>[]) {
    const afters: string[] = [];
    const route = (_: unknown, url: URL) => {
      const after = url.searchParams.get('after') ?? '0';
      afters.push(after);
      const events = Number(after) === 3 ? afterThree : [];
      const lastSeq = Math.max(3, ...events.map((e) => e.seq));
      return { epoch: 'e1', events, hasMore: false, oldestSeq: events.length ? 1 : null, lastSeq };
    };
    return { afters, route };
  }

  it('says "recovered" after a recovered reconnect, and toasts a replayed fill once', async () => {
    const api = eventsRoute([]);
    const view = await liveDashboard({ routes: { 'GET /api/events': api.route } });
    const conn = () => document.querySelector('[data-connection-state]');
    await waitFor(() => expect(api.afters).toHaveLength(1));
    expect(conn()).not.toHaveAttribute('data-recovered');
    act(() => view.socket.serverDisconnect('transport close'));
    await serverConnect(view.server, view.socket, {}, { recovered: true });
    expect(conn()).toHaveAttribute('data-recovered', 'true');
    expect(within(conn() as HTMLElement).getByTestId('conn-recovered')).toHaveTextContent('recovered');
    expect(conn()).toHaveTextContent('Live');

    const replayed = numbered(trade(41, { symbol: 'TSLA', quantity: 2 }), 4);
    act(() => view.socket.push('trade:executed', replayed));
    act(() => view.socket.push('trade:executed', replayed)); // the same seq again
    await waitFor(() => expect(toasts('success')).toHaveLength(1));
    expect(toasts('success')[0]).toHaveTextContent('Bought 2 TSLA');
    expect(api.afters).toHaveLength(1); // recovered: nothing asked over REST
    expect(screen.queryByTestId('away-notice')).not.toBeInTheDocument();
  });

  it('after a reconnect that was not recovered, says "2 fills while you were away" and lists them', async () => {
    const api = eventsRoute([
      stored('trade:executed', 4, trade(7, { symbol: 'AAPL', quantity: 1 })),
      stored('portfolio:update', 5, portfolio()),
      stored('trade:executed', 6, trade(8, { symbol: 'MSFT', quantity: 3, side: 'sell' })),
    ]);
    const view = await liveDashboard({ routes: { 'GET /api/events': api.route } });
    await waitFor(() => expect(api.afters).toEqual([String(Number.MAX_SAFE_INTEGER)]));
    act(() => view.socket.serverDisconnect('transport close'));
    await serverConnect(view.server, view.socket);

    const notice = await screen.findByTestId('away-notice');
    expect(api.afters).toEqual([String(Number.MAX_SAFE_INTEGER), '3']);
    expect(within(notice).getByText('2 fills while you were away')).toBeInTheDocument();
    expect(within(notice).getByRole('link', { name: /Bought 1 AAPL/ })).toHaveAttribute('href', '/trades/7');
    expect(within(notice).getByRole('link', { name: /Sold 3 MSFT/ })).toHaveAttribute('href', '/trades/8');
    expect(document.querySelector('[data-connection-state]')).not.toHaveAttribute('data-recovered');
    expect(toasts('success')).toHaveLength(0); // a line, not a toast per fill

    await userEvent.click(within(notice).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('away-notice')).not.toBeInTheDocument();
  });
});
