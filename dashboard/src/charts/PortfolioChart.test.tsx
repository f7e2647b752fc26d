import { act, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bar } from '../api/types';
import { portfolio, quote, trade } from '../test/fixtures';
import { ioMock, resetSockets } from '../test/mockSocket';
import { defaultServer, renderApp, serverConnect } from '../test/renderApp';
import { appendPoint } from './PortfolioChart';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

const T0 = 1_764_698_400;
const at = (second: number) => new Date((T0 + second) * 1000).toISOString();

function bar(minute: number, close: string): Bar {
  return { time: T0 + 60 * minute, open: close, high: close, low: close, close, volume: 3 };
}

beforeEach(() => {
  resetSockets();
});

describe('appendPoint', () => {
  it('keeps times increasing: the same second replaces, an older one is ignored, the oldest go', () => {
    const points = [
      { time: 10, value: 1 },
      { time: 20, value: 2 },
    ];
    expect(appendPoint(points, { time: 20, value: 3 })).toEqual([points[0], { time: 20, value: 3 }]);
    expect(appendPoint(points, { time: 5, value: 9 })).toEqual(points);
    expect(appendPoint(points, { time: 30, value: 4 }, 2)).toEqual([points[1], { time: 30, value: 4 }]);
  });
});

describe('portfolio value chart', () => {
  it('is seeded from the trades and the bars, then takes every snapshot', async () => {
    // Bought 10 AAPL at 100 in minute 1; now 1,000 cash and 10 AAPL.
    const now = portfolio({
      cash: '1000.00',
      positions: [{ symbol: 'AAPL', quantity: 10, avgCost: '100.00', last: '103.00', marketValue: '1030.00', unrealizedPnl: '30.00' }],
      positionsValue: '1030.00',
      totalValue: '2030.00',
      asOf: at(150),
    });
    const server = defaultServer({
      portfolio: now,
      quotes: { AAPL: quote('AAPL', '103.00', 5), MSFT: quote('MSFT', '410.00', 5) },
      trades: [trade(1, { quantity: 10, price: '100.00', total: '1000.00', executedAt: at(70) })],
    });
    const bars = [bar(0, '99.00'), bar(1, '101.00'), bar(2, '103.00')];
    renderApp({
      server,
      routes: { 'GET /api/quotes/AAPL/bars': { symbol: 'AAPL', interval: '1m', bars } },
    });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = await serverConnect(server);
    const chart = (await screen.findByTestId('portfolio-chart')).querySelector('.value-chart') as HTMLElement;
    await waitFor(() => expect(chart).toHaveAttribute('data-seeded', 'true'));
    // three minutes worked back (2,000 / 2,010 / 2,030), then the snapshot (and marks) now
    const points = () => Number(chart.getAttribute('data-points'));
    expect(points()).toBeGreaterThanOrEqual(4);
    expect(chart).toHaveAttribute('data-last-value', '2030.00');

    act(() => socket.push('portfolio:update', { ...now, cash: '900.00', totalValue: '1930.00', asOf: at(170) }));
    await waitFor(() => expect(chart).toHaveAttribute('data-last-value', '1930.00'));
  });
});
