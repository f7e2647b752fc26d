/**
 * Where the session id lives in the browser. The REST calls authenticate with the HttpOnly cookie
 * the server sets; the Socket.IO handshake needs the id itself (`auth: {sessionId}`), so the login
 * response's `sessionId` is kept in localStorage: it survives a reload and is shared by the tabs
 * of one browser, like the cookie is.
 */
const KEY = 'tradewire.sessionId';

export function getSessionId(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setSessionId(sessionId: string): void {
  try {
    localStorage.setItem(KEY, sessionId);
  } catch {
    // storage unavailable (private mode quota): the socket then has no session and falls back
  }
}

export function clearSessionId(): void {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // nothing to clear
  }
}

export const SESSION_STORAGE_KEY = KEY;
