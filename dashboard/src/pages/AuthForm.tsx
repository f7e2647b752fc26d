import { type SyntheticEvent, type ReactNode, useId, useState } from 'react';
import { ApiError } from '../api/client';

export interface AuthFormProps {
  title: string;
  submitLabel: string;
  busyLabel: string;
  passwordAutoComplete: 'current-password' | 'new-password';
  minPasswordLength?: number;
  /** Shown for a refused sign-in (401, or 422 for credentials that cannot exist). */
  refusedMessage?: string;
  notice?: string | null;
  onSubmit: (username: string, password: string) => Promise<void>;
  footer: ReactNode;
}

/** The login and register pages' shared card: labelled fields, inline error, busy state. */
export function AuthForm(props: AuthFormProps) {
  const { title, submitLabel, busyLabel, passwordAutoComplete, minPasswordLength, refusedMessage, notice, onSubmit, footer } =
    props;
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!username.trim() || !password) {
      setError('Enter your username and password.');
      return;
    }
    if (minPasswordLength && password.length < minPasswordLength) {
      setError(`Choose a password of at least ${minPasswordLength} characters.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit(username.trim(), password);
    } catch (e) {
      setError(
        e instanceof ApiError
          ? refusedMessage && (e.status === 401 || e.status === 422)
            ? refusedMessage
            : e.message
          : 'Cannot reach the server. Check your connection and try again.',
      );
      setBusy(false);
    }
  };

  return (
    <div className="auth">
      <div className="auth-card">
        <div className="brand brand-lg">
          <svg viewBox="0 0 32 32" width="36" height="36" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#111827" />
            <path d="M5 21l6-7 5 4 7-10 4 4" fill="none" stroke="#22c55e" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <span>Tradewire</span>
        </div>
        <h1>{title}</h1>
        {notice && (
          <p className="notice" role="status" data-testid="auth-notice">
            {notice}
          </p>
        )}
        <form onSubmit={(e) => void submit(e)} noValidate aria-describedby={error ? `${id}-error` : undefined}>
          <div className="field">
            <label htmlFor={`${id}-username`}>Username</label>
            <input
              id={`${id}-username`}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              required
              minLength={3}
              maxLength={32}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-password`}>Password</label>
            <input
              id={`${id}-password`}
              name="password"
              type="password"
              autoComplete={passwordAutoComplete}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
              minLength={minPasswordLength}
              maxLength={128}
            />
          </div>
          {error && (
            <p className="form-error" id={`${id}-error`} role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? busyLabel : submitLabel}
          </button>
        </form>
        <p className="auth-footer">{footer}</p>
      </div>
    </div>
  );
}
