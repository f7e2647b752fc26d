import { useEffect } from 'react';
import { Link, Navigate, useLocation } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { AuthForm } from './AuthForm';

function returnPath(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  return typeof from === 'string' && from.startsWith('/') && !from.startsWith('//') ? from : '/';
}

export function LoginPage() {
  const { status, login, notice } = useAuth();
  const location = useLocation();

  useEffect(() => {
    document.title = 'Sign in · Tradewire';
    return () => {
      document.title = 'Tradewire';
    };
  }, []);

  if (status === 'authenticated') return <Navigate to={returnPath(location.state)} replace />;
  return (
    <AuthForm
      title="Sign in"
      submitLabel="Sign in"
      busyLabel="Signing in…"
      passwordAutoComplete="current-password"
      refusedMessage="Wrong username or password."
      notice={notice}
      onSubmit={login}
      footer={
        <>
          New here? <Link to="/register">Create an account</Link>
        </>
      }
    />
  );
}
