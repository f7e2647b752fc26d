/**
 * useOpsStats: the live figures of the instance this tab is connected to, for the ops page.
 *
 * - live: `subscribe:ops` after every connect (the server forgets it with the socket); the ack's
 *   `stats`, then each `ops:stats` push (about one a second). The listener is added once per
 *   client (the SDK's `TradewireClient`). Leaving the page sends `unsubscribe:ops`, which stops the pushes;
 * - polling: `GET /api/ops/stats` every POLL_INTERVAL_MS instead;
 * - `forbidden` when the server refuses (the account is not an administrator). Callers should not
 *   enable the hook for a user they already know is not one: a 403 over REST is a console error.
 */
import { useEffect, useState } from 'react';
import { api, ApiError } from '../api/client';
import type { OpsStats } from '../api/types';
import type { TradewireClient } from '@tradewire/client';
import { AckError, RateLimitedError } from './subscriptions';
import { POLL_INTERVAL_MS } from './usePolling';
import type { ConnectionState } from './useWebSocket';

export interface OpsView {
  stats: OpsStats | null;
  forbidden: boolean;
  /** Why the last attempt failed (the figures shown, if any, are older). */
  error: string | null;
}

export function useOpsStats(
  client: TradewireClient | null,
  state: ConnectionState,
  enabled: boolean,
  pollIntervalMs = POLL_INTERVAL_MS,
): OpsView {
  const [stats, setStats] = useState<OpsStats | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = enabled && !forbidden;
  const live = state === 'live';
  const polling = state === 'polling';

  useEffect(() => {
    if (!client || !active) return;
    return client.on('ops:stats', (next: OpsStats) => {
      setStats(next);
      setError(null);
    });
  }, [client, active]);

  // `live` turns true once per connect, so this subscribes after every (re)connect.
  useEffect(() => {
    if (!client || !active || !live) return;
    let cancelled = false;
    let retry: ReturnType<typeof setTimeout> | null = null;
    const subscribe = () => {
      client
        .request('subscribe:ops')
        .then((ack) => {
          if (cancelled) return;
          setStats(ack.stats);
          setError(null);
        })
        .catch((e: unknown) => {
          if (cancelled) return;
          if (e instanceof AckError && e.code === 'FORBIDDEN') {
            setForbidden(true);
          } else if (e instanceof RateLimitedError) {
            retry = setTimeout(subscribe, Math.max(250, e.retryAfterMs));
          } else {
            setError('Could not subscribe to the live figures.');
          }
        });
    };
    subscribe();
    return () => {
      cancelled = true;
      if (retry !== null) clearTimeout(retry);
      if (client.connected) client.request('unsubscribe:ops').catch(() => undefined);
    };
  }, [client, active, live]);

  useEffect(() => {
    if (!active || !polling) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const poll = () => {
      api
        .opsStats()
        .then((next) => {
          if (cancelled) return;
          setStats(next);
          setError(null);
          timer = setTimeout(poll, pollIntervalMs);
        })
        .catch((e: unknown) => {
          if (cancelled) return;
          if (e instanceof ApiError && e.status === 403) {
            setForbidden(true);
            return;
          }
          setError('Could not load the figures.');
          timer = setTimeout(poll, pollIntervalMs);
        });
    };
    poll();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [active, polling, pollIntervalMs]);

  return { stats, forbidden, error };
}
