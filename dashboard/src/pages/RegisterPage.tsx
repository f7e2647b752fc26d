import { useEffect } from 'react';
import { Link, Navigate } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { AuthForm } from './AuthForm';

export function RegisterPage() {
  const { status, register } = useAuth();

  useEffect(() => {
    document.title = 'Create account · Tradewire';
    return () => {
      document.title = 'Tradewire';
    };
  }, []);

  if (status === 'authenticated') return <Navigate to="/" replace />;
  return (
    <AuthForm
      title="Create your paper-trading account"
      submitLabel="Create account"
      busyLabel="Creating account…"
      passwordAutoComplete="new-password"
      minPasswordLength={8}
      onSubmit={register}
      footer={
        <>
          Already have an account? <Link to="/login">Sign in</Link>
        </>
      }
    />
  );
}
