/**
 * What the browser keeps about the sign-in: only a hint that this browser is signed in, never
 * the session id. The credential is the HttpOnly `tw_session` cookie set by the login response:
 * REST calls send it (`credentials: 'same-origin'`) and so does the Socket.IO handshake, and no
 * script can read it. The hint (localStorage, shared by the tabs like the cookie) spares a
 * signed-out visitor the 401 of GET /api/me, and its removal tells the other tabs about a
 * sign-out (the storage event).
 */
const KEY = 'tradewire.signedIn';
/** Where earlier versions kept the session id itself: removed on start. */
const LEGACY_SESSION_KEY = 'tradewire.sessionId';

/** True when this browser signed in and has not signed out since (the cookie may still have
 * expired: GET /api/me decides). */
export function wasSignedIn(): boolean {
  try {
    const legacy = localStorage.getItem(LEGACY_SESSION_KEY) !== null;
    if (legacy) {
      localStorage.removeItem(LEGACY_SESSION_KEY);
      localStorage.setItem(KEY, '1');
    }
    return localStorage.getItem(KEY) !== null;
  } catch {
    return true; // storage unavailable: ask the server
  }
}

export function markSignedIn(): void {
  try {
    localStorage.setItem(KEY, '1');
  } catch {
    // storage unavailable (private mode quota): the next start asks the server
  }
}

export function markSignedOut(): void {
  try {
    localStorage.removeItem(KEY);
    localStorage.removeItem(LEGACY_SESSION_KEY);
  } catch {
    // nothing to clear
  }
}

export const SIGNED_IN_STORAGE_KEY = KEY;
