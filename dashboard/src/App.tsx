import { Navigate, Outlet, Route, Routes, useLocation } from 'react-router';
import { Toaster } from 'sonner';
import { AuthProvider, useAuth } from './auth/AuthContext';
import { AppShell, TOPBAR_HEIGHT_VAR } from './components/AppShell';
import { DashboardPage } from './pages/DashboardPage';
import { LoginPage } from './pages/LoginPage';
import { OpsPage } from './pages/OpsPage';
import { RegisterPage } from './pages/RegisterPage';
import { SymbolPage } from './pages/SymbolPage';
import { TradePage } from './pages/TradePage';
import { TradesPage } from './pages/TradesPage';

function RequireAuth() {
  const { status } = useAuth();
  const location = useLocation();
  if (status === 'checking') {
    return (
      <div className="splash" role="status" aria-live="polite">
        <span className="spinner" aria-hidden="true" />
        Loading…
      </div>
    );
  }
  if (status === 'anonymous') {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <Outlet />;
}

function NotFound() {
  return (
    <section className="panel page">
      <h1>Page not found</h1>
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </section>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/register" element={<RegisterPage />} />
      <Route element={<RequireAuth />}>
        <Route element={<AppShell />}>
          <Route index element={<DashboardPage />} />
          <Route path="trades" element={<TradesPage />} />
          <Route path="trades/:id" element={<TradePage />} />
          <Route path="symbols/:symbol" element={<SymbolPage />} />
          <Route path="ops" element={<OpsPage />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Route>
    </Routes>
  );
}

/** Toasts start below the sticky header (its height is published by AppShell), never over it. */
export const TOAST_OFFSET = { top: `calc(var(${TOPBAR_HEIGHT_VAR}, 0px) + 12px)` };
export const TOAST_MOBILE_OFFSET = { top: `calc(var(${TOPBAR_HEIGHT_VAR}, 0px) + 8px)` };

export function App() {
  return (
    <AuthProvider>
      <AppRoutes />
      <Toaster
        theme="dark"
        position="top-right"
        offset={TOAST_OFFSET}
        mobileOffset={TOAST_MOBILE_OFFSET}
        richColors
        closeButton
        visibleToasts={5}
        containerAriaLabel="Notifications"
        toastOptions={{ className: 'toast' }}
      />
    </AuthProvider>
  );
}
