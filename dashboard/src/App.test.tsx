import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { wasSignedIn } from './auth/session';
import { portfolio } from './test/fixtures';
import { ioMock, lastSocket, resetSockets, sockets } from './test/mockSocket';
import { defaultServer, location, renderApp, serverConnect } from './test/renderApp';

vi.mock('socket.io-client', async () => {
  const mock = await import('./test/mockSocket');
  return { io: mock.ioMock };
});

/** Every value a script can read from the browser's storage. */
function scriptReadableStorage(): string {
  const values = (storage: Storage) => Array.from({ length: storage.length }, (_, i) => storage.getItem(storage.key(i) ?? ''));
  return JSON.stringify([values(localStorage), values(sessionStorage), document.cookie]);
}

function indicator() {
  return document.querySelector('[data-connection-state]');
}

beforeEach(() => {
  resetSockets();
});

describe('app', () => {
  it('sends a signed-out visitor to /login, then signs in and goes live', async () => {
    const server = defaultServer({ loggedIn: false });
    renderApp({ server, path: '/trades' });
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(location()).toBe('/login');

    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Username'), 'demo');
    await user.type(screen.getByLabelText('Password'), 'demo-password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    await waitFor(() => expect(location()).toBe('/trades'));
    expect(wasSignedIn()).toBe(true);
    expect(scriptReadableStorage()).not.toContain('sess-new'); // the HttpOnly cookie holds it
    await waitFor(() => expect(ioMock).toHaveBeenCalledTimes(1));
    expect(lastSocket().authPayload()).toEqual({}); // the handshake is authenticated by the cookie
    expect(lastSocket().options).toMatchObject({ withCredentials: true });
    expect(indicator()).toHaveAttribute('data-connection-state', 'connecting');
    await serverConnect(server);
    expect(indicator()).toHaveAttribute('data-connection-state', 'live');
    expect(indicator()).toHaveTextContent('Live');
  });

  it('shows a wrong password inline and stays on the login page', async () => {
    const server = defaultServer({ loggedIn: false });
    renderApp({
      server,
      path: '/login',
      routes: {
        'POST /api/auth/login': () =>
          new Response(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'Bad credentials' } }), { status: 401 }),
      },
    });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username'), 'demo');
    await user.type(screen.getByLabelText('Password'), 'nope-nope');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong username or password.');
    expect(location()).toBe('/login');
  });

  it('registers a new account, signs it in and opens the dashboard', async () => {
    const server = defaultServer({ loggedIn: false });
    const { calls } = renderApp({
      server,
      path: '/register',
      routes: {
        'POST /api/auth/register': () =>
          new Response(JSON.stringify({ userId: 2, username: 'newbie', role: 'user' }), { status: 201 }),
      },
    });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username'), 'newbie');
    await user.type(screen.getByLabelText('Password'), 'short');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('at least 8 characters');
    expect(calls.some((c) => c.path === '/api/auth/register')).toBe(false);

    await user.type(screen.getByLabelText('Password'), '-long-enough');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(location()).toBe('/'));
    const register = calls.find((c) => c.path === '/api/auth/register');
    expect(JSON.parse(register?.init?.body as string)).toEqual({ username: 'newbie', password: 'short-long-enough' });
    expect(calls.some((c) => c.path === '/api/auth/login')).toBe(true);
    expect(wasSignedIn()).toBe(true);
    expect(scriptReadableStorage()).not.toContain('sess-new');
  });

  it('keeps exactly one open socket per tab, even under StrictMode', async () => {
    const server = defaultServer();
    renderApp({ server, strict: true });
    await waitFor(() => expect(sockets.length).toBeGreaterThan(0));
    await act(async () => {
      await Promise.resolve();
    });
    const open = sockets.filter((s) => s.active);
    expect(open).toHaveLength(1);
    // the ones StrictMode discarded have no listeners left
    for (const s of sockets.filter((x) => !x.active)) expect(s.totalListeners()).toBe(0);
  });

  it('an expired session on a REST call lands on the login page with a notice', async () => {
    const server = defaultServer();
    renderApp({ server, path: '/' });
    await screen.findByRole('heading', { name: 'Portfolio' });
    server.loggedIn = false;
    const user = userEvent.setup();
    await user.click(screen.getByRole('link', { name: 'Trades' }));
    await waitFor(() => expect(location()).toBe('/login'));
    expect(await screen.findByTestId('auth-notice')).toHaveTextContent('session has expired');
    expect(wasSignedIn()).toBe(false);
  });

  it('a refused socket handshake ("unauthorized") lands on the login page', async () => {
    const server = defaultServer();
    renderApp({ server });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    act(() => lastSocket().connectError('unauthorized', { code: 'UNAUTHORIZED' }, { refusedByServer: true }));
    await waitFor(() => expect(location()).toBe('/login'));
    expect(lastSocket().active).toBe(false);
  });

  it('logs out: server told, session forgotten, socket closed', async () => {
    const server = defaultServer();
    const { calls } = renderApp({ server });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = await serverConnect(server);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Log out' }));
    await waitFor(() => expect(location()).toBe('/login'));
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/auth/logout')).toBe(true);
    expect(socket.disconnect).toHaveBeenCalled();
    expect(wasSignedIn()).toBe(false);
  });

  it('falls back to polling after 5 failed connects, and tries the socket again as soon as the API answers', async () => {
    const server = defaultServer();
    const { calls } = renderApp({ server });
    await waitFor(() => expect(ioMock).toHaveBeenCalled());
    const socket = lastSocket();
    socket.connect.mockClear();
    for (let i = 1; i <= 5; i++) {
      act(() => socket.io.fire('reconnect_attempt', i));
      act(() => socket.connectError('xhr poll error'));
    }
    expect(indicator()).toHaveAttribute('data-connection-state', 'polling');
    expect(socket.connect).not.toHaveBeenCalled();
    // the first poll reaches the API: the service is up, so the socket is tried at once
    await waitFor(() => expect(calls.some((c) => c.path === '/api/portfolio')).toBe(true));
    await waitFor(() => expect(socket.connect).toHaveBeenCalledTimes(1));
    await serverConnect(server, socket);
    expect(indicator()).toHaveAttribute('data-connection-state', 'live');
  });

  it('with real time disabled, polls the REST API and says "Polling"', async () => {
    const server = defaultServer({ config: { realtimeEnabled: false, socketPath: '/socket.io', maxWatchlistSymbols: 50 } });
    const { calls } = renderApp({ server });
    await waitFor(() => expect(indicator()).toHaveAttribute('data-connection-state', 'polling'));
    expect(indicator()).toHaveTextContent('Polling');
    expect(ioMock).not.toHaveBeenCalled();
    const panel = await screen.findByTestId('portfolio');
    await waitFor(() => expect(within(panel).getByText('$100,000.00', { selector: '[data-field="cash"]' })).toBeInTheDocument());
    expect(calls.some((c) => c.path === '/api/quotes' && c.url.searchParams.get('symbols') === 'AAPL,MSFT')).toBe(true);
    expect(calls.some((c) => c.path === '/api/trades')).toBe(true);

    // the next poll picks up changes
    server.portfolio = portfolio({ cash: '98000.00', asOf: new Date().toISOString() });
    await waitFor(() => expect(within(panel).getByText('$98,000.00')).toBeInTheDocument(), { timeout: 4000 });
  });
});
