import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { RealtimeRolloutOut } from '../api/types';
import { ioMock, lastSocket, resetSockets, sockets } from '../test/mockSocket';
import { defaultServer, renderApp, serverConnect } from '../test/renderApp';

vi.mock('socket.io-client', async () => {
  const mock = await import('../test/mockSocket');
  return { io: mock.ioMock };
});

const OFF = { realtimeEnabled: false, socketPath: '/socket.io', maxWatchlistSymbols: 50 };
const ON = { ...OFF, realtimeEnabled: true };

function indicator() {
  return document.querySelector('[data-connection-state]');
}

beforeEach(() => {
  resetSockets();
});

describe('real-time rollout in the dashboard', () => {
  it('polls while real time is off for the user, and goes live without a reload once it is on', async () => {
    const server = defaultServer({ config: OFF });
    const { calls } = renderApp({ server, routes: { 'GET /api/config': () => server.config } });
    await waitFor(() => expect(indicator()).toHaveAttribute('data-connection-state', 'polling'));
    expect(ioMock).not.toHaveBeenCalled();
    // still off at the next check: still polling, no socket
    await waitFor(() => expect(calls.filter((c) => c.path === '/api/config').length).toBeGreaterThanOrEqual(2), {
      timeout: 4000,
    });
    expect(ioMock).not.toHaveBeenCalled();

    server.config = ON;
    await waitFor(() => expect(ioMock).toHaveBeenCalledTimes(1), { timeout: 4000 });
    await serverConnect(server, lastSocket());
    expect(indicator()).toHaveAttribute('data-connection-state', 'live');
  });

  it('drops to polling when told realtime:disabled, and asks the config again', async () => {
    const server = defaultServer({ config: ON });
    const { calls } = renderApp({ server, routes: { 'GET /api/config': () => server.config } });
    await waitFor(() => expect(ioMock).toHaveBeenCalledTimes(1));
    const socket = await serverConnect(server, lastSocket());
    expect(indicator()).toHaveAttribute('data-connection-state', 'live');

    server.config = OFF;
    act(() => {
      socket.push('realtime:disabled', { reason: 'disabled' });
      socket.serverDisconnect('io server disconnect');
    });
    await waitFor(() => expect(indicator()).toHaveAttribute('data-connection-state', 'polling'));
    expect(socket.disconnect).toHaveBeenCalled();
    const before = calls.filter((c) => c.path === '/api/config').length;
    await waitFor(() => expect(calls.filter((c) => c.path === '/api/config').length).toBeGreaterThan(before), {
      timeout: 4000,
    });
    expect(sockets).toHaveLength(1); // no new socket while the config says no
  });

  it('drops to polling when the handshake is refused with REALTIME_DISABLED', async () => {
    const server = defaultServer({ config: ON });
    renderApp({ server });
    await waitFor(() => expect(ioMock).toHaveBeenCalledTimes(1));
    // the connection's own listener, and the provider's that watches for this refusal
    await waitFor(() => expect(lastSocket().listenerCount('connect_error')).toBe(2));
    act(() => {
      lastSocket().connectError('realtime_disabled', { code: 'REALTIME_DISABLED' }, { refusedByServer: true });
    });
    await waitFor(() => expect(indicator()).toHaveAttribute('data-connection-state', 'polling'));
  });
});

describe('the ops page rollout control', () => {
  it('shows the state and applies a new one with strict types', async () => {
    let state: RealtimeRolloutOut = { enabled: true, percent: 100 };
    const puts: unknown[] = [];
    const server = defaultServer();
    renderApp({
      server,
      path: '/ops',
      routes: {
        'GET /api/me': { userId: 1, username: 'demo', role: 'admin' },
        'GET /api/admin/realtime': () => state,
        'PUT /api/admin/realtime': (init: RequestInit | undefined) => {
          const body = JSON.parse(init?.body as string) as RealtimeRolloutOut;
          puts.push(body);
          state = body;
          return state;
        },
      },
    });
    const panel = await screen.findByTestId('rollout');
    await waitFor(() => expect(panel.querySelector('[data-field="rollout-state"]')).toHaveTextContent('On for 100% of users'));

    const user = userEvent.setup();
    const percent = screen.getByLabelText('Users (%)');
    await user.clear(percent);
    await user.type(percent, '101');
    expect(screen.getByRole('button', { name: 'Apply' })).toBeDisabled();
    await user.clear(percent);
    await user.type(percent, '25');
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(panel.querySelector('[data-field="rollout-state"]')).toHaveTextContent('On for 25% of users'));
    expect(puts).toEqual([{ enabled: true, percent: 25 }]);

    await user.click(screen.getByRole('switch', { name: 'Real time' }));
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(panel.querySelector('[data-field="rollout-state"]')).toHaveTextContent('Off: every dashboard polls'));
    expect(puts.at(-1)).toEqual({ enabled: false, percent: 25 });

    // a change made elsewhere shows up at the next refresh
    state = { enabled: true, percent: 60 };
    await waitFor(() => expect(panel.querySelector('[data-field="rollout-state"]')).toHaveTextContent('On for 60% of users'), {
      timeout: 4000,
    });
    expect(screen.getByLabelText('Users (%)')).toHaveValue('60');
  });
});
