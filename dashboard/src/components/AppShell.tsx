import { type RefObject, useLayoutEffect, useRef } from 'react';
import { NavLink, Outlet } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { WebSocketProvider } from '../realtime/WebSocketContext';
import { AwayNotice } from './AwayNotice';
import { ConnectionStatus } from './ConnectionStatus';
import { RateLimitNotices } from './RateLimitNotices';
import { TradeNotifications } from './TradeNotifications';

/** The header's height (px) as a CSS variable on <html>: the toasts sit below it (App.tsx). */
export const TOPBAR_HEIGHT_VAR = '--topbar-height';

/** Keeps TOPBAR_HEIGHT_VAR equal to the header's height, which changes when it wraps (phones). */
function usePublishedHeight(ref: RefObject<HTMLElement | null>) {
  useLayoutEffect(() => {
    const header = ref.current;
    if (!header) return;
    const root = document.documentElement;
    const publish = () => {
      root.style.setProperty(TOPBAR_HEIGHT_VAR, `${Math.ceil(header.getBoundingClientRect().height)}px`);
    };
    publish();
    const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(publish) : null;
    observer?.observe(header);
    return () => {
      observer?.disconnect();
      root.style.removeProperty(TOPBAR_HEIGHT_VAR);
    };
  }, [ref]);
}

/** The signed-in layout: header (nav, connection indicator, user), the page, and the
 * background components that turn events into toasts. */
export function AppShell() {
  const { user, logout } = useAuth();
  const header = useRef<HTMLElement>(null);
  usePublishedHeight(header);
  return (
    <WebSocketProvider>
      <div className="shell">
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <header className="topbar" ref={header}>
          <div className="brand">
            <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
              <rect width="32" height="32" rx="7" fill="#111827" />
              <path d="M5 21l6-7 5 4 7-10 4 4" fill="none" stroke="#22c55e" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            <span>Tradewire</span>
          </div>
          <nav className="nav" aria-label="Main">
            <NavLink to="/" end>
              Dashboard
            </NavLink>
            <NavLink to="/trades">Trades</NavLink>
            {user?.role === 'admin' && <NavLink to="/ops">Ops</NavLink>}
          </nav>
          <div className="topbar-right">
            <ConnectionStatus />
            <span className="user hide-sm" title={user ? `Signed in as ${user.username}` : undefined}>
              {user?.username}
            </span>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => void logout()}>
              Log out
            </button>
          </div>
        </header>
        <main id="main" className="main">
          <AwayNotice />
          <Outlet />
        </main>
        <TradeNotifications />
        <RateLimitNotices />
      </div>
    </WebSocketProvider>
  );
}
