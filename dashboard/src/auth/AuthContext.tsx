/**
 * Who is signed in. On start, GET /api/me (the HttpOnly cookie) decides. The session id of the
 * login response is not kept anywhere: the cookie authenticates REST and the socket handshake
 * alike. An expired session — a 401 from any REST call or the socket's "unauthorized" — signs
 * the user out locally and the router sends them to /login. Signing out in one tab signs out the
 * others (the storage event of the signed-in hint, auth/session.ts).
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiError, onUnauthorized } from '../api/client';
import type { UserOut } from '../api/types';
import { markSignedIn, markSignedOut, SIGNED_IN_STORAGE_KEY, wasSignedIn } from './session';

export type AuthStatus = 'checking' | 'authenticated' | 'anonymous';

export interface AuthValue {
  status: AuthStatus;
  user: UserOut | null;
  /** Why the user was sent to /login, if not by their own choice. */
  notice: string | null;
  login: (username: string, password: string) => Promise<void>;
  register: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  /** The session is no longer valid (called on 401 / socket "unauthorized"). */
  expire: (reason?: string) => void;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  // Never signed in here (or signed out since): signed out, without asking the server (a 401
  // is noise in the console).
  const [status, setStatus] = useState<AuthStatus>(() => (wasSignedIn() ? 'checking' : 'anonymous'));
  const [user, setUser] = useState<UserOut | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const statusRef = useRef(status);
  useEffect(() => {
    statusRef.current = status;
  });

  const expire = useCallback((reason = 'Your session has expired. Please sign in again.') => {
    markSignedOut();
    if (statusRef.current === 'authenticated') setNotice(reason);
    setUser(null);
    setStatus('anonymous');
  }, []);

  useEffect(() => {
    if (statusRef.current !== 'checking') return;
    let cancelled = false;
    api
      .me()
      .then((me) => {
        if (cancelled) return;
        setUser(me);
        setStatus('authenticated');
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        if (error instanceof ApiError && error.status === 401) markSignedOut();
        setStatus('anonymous');
      });
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => onUnauthorized(() => {
    expire();
  }), [expire]);

  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (event.key !== SIGNED_IN_STORAGE_KEY && event.key !== null) return;
      if (event.newValue === null) {
        expire('You signed out in another tab.');
      } else {
        api
          .me()
          .then((me) => {
            setUser(me);
            setStatus('authenticated');
          })
          .catch(() => undefined);
      }
    };
    window.addEventListener('storage', onStorage);
    return () => {
      window.removeEventListener('storage', onStorage);
    };
  }, [expire]);

  const login = useCallback(async (username: string, password: string) => {
    await api.login({ username, password }); // sets the HttpOnly cookie; the id is not kept
    markSignedIn();
    const me = await api.me();
    setNotice(null);
    setUser(me);
    setStatus('authenticated');
  }, []);

  const register = useCallback(
    async (username: string, password: string) => {
      await api.register({ username, password });
      await login(username, password);
    },
    [login],
  );

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // the local sign-out below is what matters to the user
    }
    markSignedOut();
    setNotice(null);
    setUser(null);
    setStatus('anonymous');
  }, []);

  const value = useMemo<AuthValue>(
    () => ({ status, user, notice, login, register, logout, expire }),
    [status, user, notice, login, register, logout, expire],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth must be used inside <AuthProvider>');
  return value;
}
