import { act, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bar } from '../api/types';
import { quote, trade } from '../test/fixtures';
import { ioMock, resetSockets } from '../test/mockSocket';
import { defaultServer, renderApp, serverConnect } from '../test/renderApp';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

const T0 = 1_764_698_400;

function bar(minute: number, close: string, volume = 5): Bar {
  return { time: T0 + 60 * minute, open: close, high: close, low: close, close, volume };
}

function tsla(last: string, seq: number, second: number) {
  return quote('TSLA', last, seq, { ts: (T0 + second) * 1000 });
}

beforeEach(() => {
  resetSockets();
});

describe('symbol page', () => {
  it('loads the bars, moves the last one live, rolls a minute, and reloads after a reconnect', async () => {
    const server = defaultServer({
      quotes: { TSLA: tsla('175.00', 7, 70) },
      trades: [trade(4, { symbol: 'TSLA', executedAt: new Date((T0 + 30) * 1000).toISOString() })],
    });
    let served: Bar[] = [bar(0, '174.00'), bar(1, '175.00')];
    const view = renderApp({
      server,
      path: '/symbols/tsla',
      routes: { 'GET /api/quotes/TSLA/bars': () => ({ symbol: 'TSLA', interval: '1m', bars: served }) },
    });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = await serverConnect(server);
    const chart = await screen.findByTestId('candle-chart');
    await waitFor(() => expect(chart).toHaveAttribute('data-loads', '1'));
    expect(chart).toHaveAttribute('data-bars', '2');
    // TSLA is not on the watchlist: the page subscribes it itself
    expect(socket.emitted.some((e) => e.event === 'subscribe:watchlist' && JSON.stringify(e.args[0]) === '{"symbols":["TSLA"],"batch":true}')).toBe(true);
    await waitFor(() => expect(chart).toHaveAttribute('data-markers', '1'));

    act(() => socket.push('quotes:update', { quotes: [tsla('176.25', 8, 100)] }));
    await waitFor(() => expect(chart).toHaveAttribute('data-last-close', '176.25'));
    expect(chart).toHaveAttribute('data-bars', '2');
    expect(screen.getByTestId('symbol-quote')).toHaveTextContent('176.25');

    act(() => socket.push('quotes:update', { quotes: [tsla('177.00', 9, 125)] }));
    await waitFor(() => expect(chart).toHaveAttribute('data-bars', '3'));
    expect(chart).toHaveAttribute('data-last-time', String(T0 + 120));

    // Down, ticks missed meanwhile, back: the service's bars replace what was shown.
    served = [bar(0, '174.00'), bar(1, '176.25'), bar(2, '178.00'), bar(3, '179.50')];
    act(() => socket.serverDisconnect('transport close'));
    await serverConnect(server, socket);
    await waitFor(() => expect(chart).toHaveAttribute('data-loads', '2'));
    expect(chart).toHaveAttribute('data-bars', '4');
    expect(chart).toHaveAttribute('data-last-close', '179.50');
    expect(view.calls.filter((c) => c.path === '/api/quotes/TSLA/bars' && c.url.searchParams.get('limit') === '480')).toHaveLength(2);
  });

  it('says so for a symbol not traded here', async () => {
    renderApp({ path: '/symbols/NOPE' });
    expect(await screen.findByTestId('unknown-symbol')).toHaveTextContent('NOPE is not traded here.');
  });
});
