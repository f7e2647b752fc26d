/**
 * RolloutControl (ops page, administrators): the real-time switch and the share of users who
 * get it, applied by every instance. The state shown is re-read every `refreshMs` (another
 * administrator may change it); the form keeps the administrator's draft until saved.
 */
import { type SyntheticEvent, useEffect, useState } from 'react';
import { api, ApiError } from '../api/client';
import type { RealtimeRolloutOut } from '../api/types';
import { POLL_INTERVAL_MS } from '../realtime/usePolling';

interface Draft {
  enabled: boolean;
  percent: string;
}

export function RolloutControl({ refreshMs = POLL_INTERVAL_MS }: { refreshMs?: number }) {
  const [state, setState] = useState<RealtimeRolloutOut | null>(null);
  /** The administrator's edits; null: the form shows the server's state. */
  const [draft, setDraft] = useState<Draft | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = () => {
      api
        .realtimeRollout()
        .then((next) => {
          if (cancelled) return;
          setState(next);
          setError(null);
        })
        .catch(() => {
          if (!cancelled) setError('Could not load the real-time rollout.');
        })
        .finally(() => {
          if (!cancelled) timer = setTimeout(load, refreshMs);
        });
    };
    load();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [refreshMs]);

  const shown: Draft = draft ?? { enabled: state?.enabled ?? true, percent: String(state?.percent ?? 100) };
  const value = Number(shown.percent);
  const valid = /^\d{1,3}$/.test(shown.percent) && value >= 0 && value <= 100;

  const onSubmit = async (e: SyntheticEvent) => {
    e.preventDefault();
    if (!valid) return;
    setBusy(true);
    try {
      setState(await api.setRealtimeRollout({ enabled: shown.enabled, percent: value }));
      setDraft(null);
      setError(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not save the real-time rollout.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel page ops rollout" aria-labelledby="rollout-title" data-testid="rollout">
      <header className="panel-head">
        <h2 id="rollout-title">Real-time rollout</h2>
        <span className="muted" data-field="rollout-state" role="status">
          {state === null
            ? '…'
            : !state.enabled
              ? 'Off: every dashboard polls'
              : `On for ${state.percent}% of users`}
        </span>
      </header>
      <form onSubmit={(e) => void onSubmit(e)} noValidate className="rollout-form">
        <div className="field-row">
          <div className="field">
            <label htmlFor="rollout-enabled">Real time</label>
            <input
              id="rollout-enabled"
              type="checkbox"
              role="switch"
              checked={shown.enabled}
              onChange={(e) => {
                setDraft({ ...shown, enabled: e.target.checked });
              }}
            />
          </div>
          <div className="field">
            <label htmlFor="rollout-percent">Users (%)</label>
            <input
              id="rollout-percent"
              inputMode="numeric"
              value={shown.percent}
              aria-invalid={!valid}
              onChange={(e) => {
                setDraft({ ...shown, percent: e.target.value.trim() });
              }}
            />
          </div>
        </div>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || !valid}>
          Apply
        </button>
      </form>
    </section>
  );
}
