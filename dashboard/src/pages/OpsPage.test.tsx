import { act, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { OpsStats } from '../api/types';
import { jsonResponse } from '../test/fixtures';
import { ioMock, lastSocket, resetSockets } from '../test/mockSocket';
import { defaultServer, renderApp, serverConnect } from '../test/renderApp';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

const ADMIN = { 'GET /api/me': { userId: 1, username: 'demo', role: 'admin' } };

function stats(overrides: Partial<OpsStats> = {}): OpsStats {
  return {
    instance: 'vm:13027',
    connections: 2,
    messagesPerSecond: 175.1,
    quoteLatencyMs: { p50: 0.58, p95: 1.01, p99: 1.35, count: 389 },
    tradeLatencyMs: { p50: 7.15, p95: 7.15, p99: 7.15, count: 1 },
    clientRttMs: { p50: null, p95: null, p99: null, count: 0 },
    ts: 1795688362773,
    ...overrides,
  };
}

async function socketOpened() {
  await waitFor(() => expect(ioMock).toHaveBeenCalledTimes(1));
  return lastSocket();
}

function field(name: string): HTMLElement {
  const el = screen.getByTestId('ops').querySelector<HTMLElement>(`[data-field="${name}"]`);
  if (!el) throw new Error(`no [data-field="${name}"]`);
  return el;
}

function latencyRow(key: string): HTMLElement {
  const row = screen.getByTestId('ops').querySelector<HTMLElement>(`tr[data-latency="${key}"]`);
  if (!row) throw new Error(`no row ${key}`);
  return row;
}

beforeEach(() => {
  resetSockets();
});

describe('ops page', () => {
  it('renders the subscribe:ops snapshot, then each ops:stats push', async () => {
    const server = defaultServer();
    renderApp({ server, path: '/ops', routes: ADMIN });
    await screen.findByTestId('ops');
    const socket = await serverConnect(server, await socketOpened(), {
      'subscribe:ops': () => ({ ok: true, stats: stats() }),
    });
    await waitFor(() => expect(field('connections')).toHaveTextContent('2'));
    expect(socket.count('subscribe:ops')).toBe(1);
    expect(field('messagesPerSecond')).toHaveTextContent('175.1');
    expect(field('instance')).toHaveTextContent('vm:13027');
    const quote = within(latencyRow('quoteLatencyMs'));
    expect(quote.getByRole('rowheader')).toHaveTextContent('Quote delivery');
    expect(latencyRow('quoteLatencyMs').querySelector('[data-field="p50"]')).toHaveTextContent('0.58');
    expect(latencyRow('quoteLatencyMs').querySelector('[data-field="p99"]')).toHaveTextContent('1.35');
    expect(latencyRow('tradeLatencyMs').querySelector('[data-field="p95"]')).toHaveTextContent('7.15');
    for (const p of ['p50', 'p95', 'p99']) {
      expect(latencyRow('clientRttMs').querySelector(`[data-field="${p}"]`)).toHaveTextContent('—');
    }
    expect(screen.getByTestId('ops')).toHaveAttribute('data-ts', '1795688362773');
    expect(screen.getByRole('link', { name: 'Ops' })).toBeInTheDocument();

    act(() => {
      socket.push('ops:stats', stats({ connections: 1234, messagesPerSecond: 9.5, clientRttMs: { p50: 12.3, p95: 20, p99: 31.25, count: 4 }, ts: 1795688363773 }));
    });
    expect(field('connections')).toHaveTextContent('1,234');
    expect(field('messagesPerSecond')).toHaveTextContent('9.5');
    expect(latencyRow('clientRttMs').querySelector('[data-field="p95"]')).toHaveTextContent('20.00');
    expect(screen.getByTestId('ops')).toHaveAttribute('data-ts', '1795688363773');

    // subscribed again after a reconnect, with a single listener
    act(() => {
      socket.serverDisconnect('transport close');
    });
    await serverConnect(server, socket, { 'subscribe:ops': () => ({ ok: true, stats: stats({ connections: 3 }) }) });
    await waitFor(() => expect(field('connections')).toHaveTextContent('3'));
    expect(socket.count('subscribe:ops')).toBe(2);
    expect(socket.listenerCount('ops:stats')).toBe(1);
  });

  it('polls GET /api/ops/stats while in the polling state', async () => {
    const server = defaultServer({ config: { realtimeEnabled: false, socketPath: '/socket.io', maxWatchlistSymbols: 50 } });
    const { calls } = renderApp({
      server,
      path: '/ops',
      routes: { ...ADMIN, 'GET /api/ops/stats': () => stats({ instance: 'polled:1' }) },
    });
    await waitFor(() => expect(field('instance')).toHaveTextContent('polled:1'));
    expect(field('connections')).toHaveTextContent('2');
    expect(calls.filter((c) => c.path === '/api/ops/stats')).toHaveLength(1);
  });

  it('tells a user who is not an administrator, without asking the server', async () => {
    const server = defaultServer();
    const { calls } = renderApp({ server, path: '/ops' });
    expect(await screen.findByTestId('ops-forbidden')).toHaveTextContent('administrators only');
    const socket = await serverConnect(server, await socketOpened());
    expect(socket.count('subscribe:ops')).toBe(0);
    expect(calls.some((c) => c.path === '/api/ops/stats')).toBe(false);
    expect(screen.queryByRole('link', { name: 'Ops' })).toBeNull();
    expect(screen.queryByTestId('ops')).toBeNull();
  });

  it('shows the same message when the server refuses over the socket (FORBIDDEN)', async () => {
    const server = defaultServer();
    renderApp({ server, path: '/ops', routes: ADMIN });
    await screen.findByTestId('ops');
    await serverConnect(server, await socketOpened(), {
      'subscribe:ops': () => ({ ok: false, error: { code: 'FORBIDDEN', message: 'The ops view is for administrators.' } }),
    });
    expect(await screen.findByTestId('ops-forbidden')).toBeInTheDocument();
  });

  it('stops polling after a 403', async () => {
    const server = defaultServer({ config: { realtimeEnabled: false, socketPath: '/socket.io', maxWatchlistSymbols: 50 } });
    const { calls } = renderApp({
      server,
      path: '/ops',
      routes: {
        ...ADMIN,
        'GET /api/ops/stats': () => jsonResponse(403, { error: { code: 'FORBIDDEN', message: 'no' } }),
      },
    });
    expect(await screen.findByTestId('ops-forbidden')).toBeInTheDocument();
    expect(calls.filter((c) => c.path === '/api/ops/stats')).toHaveLength(1);
  });
});
