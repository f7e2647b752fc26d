/**
 * useRealtimeConfig: GET /api/config, which says whether real time is on for this user (the
 * server's rollout, changed at run time by an administrator).
 *
 * - loaded once, retried every CONFIG_RETRY_MS until the service answers;
 * - while it says `realtimeEnabled: false` (the dashboard polls), asked again every
 *   `recheckMs`: once it says true the socket opens, without a reload;
 * - `disable()`: the server said real time is off for us (a `realtime:disabled` push, or a
 *   handshake refused with REALTIME_DISABLED): back to polling at once, and re-checking.
 */
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import type { ConfigOut } from '../api/types';
import { POLL_INTERVAL_MS } from './usePolling';

export const CONFIG_RETRY_MS = 2000;

export interface RealtimeConfig {
  config: ConfigOut | null;
  disable: () => void;
}

export function useRealtimeConfig(recheckMs = POLL_INTERVAL_MS): RealtimeConfig {
  const [config, setConfig] = useState<ConfigOut | null>(null);
  const known = config !== null;
  const off = config?.realtimeEnabled === false;

  useEffect(() => {
    if (known && !off) return; // live, or trying to be: the socket says when that ends
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = () => {
      api
        .config()
        .then((c) => {
          if (cancelled) return;
          if (c.realtimeEnabled || !known) setConfig(c);
          if (!c.realtimeEnabled) timer = setTimeout(load, recheckMs);
        })
        .catch(() => {
          if (!cancelled) timer = setTimeout(load, known ? recheckMs : CONFIG_RETRY_MS);
        });
    };
    if (known) timer = setTimeout(load, recheckMs);
    else load();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [known, off, recheckMs]);

  const disable = useCallback(() => {
    setConfig((c) => (c === null || !c.realtimeEnabled ? c : { ...c, realtimeEnabled: false }));
  }, []);

  return { config, disable };
}
