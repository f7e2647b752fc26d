/**
 * Ops: live figures of the instance this tab is connected to (administrators only). Live over
 * the socket (`subscribe:ops`, then `ops:stats` every second), or over REST while polling. Below
 * them the real-time rollout control (RolloutControl).
 * A user who is not an administrator gets a message and no request at all (a 403 from REST
 * would be a console error).
 */
import { useEffect } from 'react';
import type { LatencyFigures, OpsStats } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { FreshnessBadge } from '../components/PortfolioPanel';
import { RolloutControl } from '../components/RolloutControl';
import { formatTime } from '../lib/time';
import type { ConnectionState } from '../realtime/useWebSocket';
import { useOpsStats } from '../realtime/useOpsStats';
import { useRealtime } from '../realtime/WebSocketContext';

const LATENCIES = [
  { key: 'quoteLatencyMs', label: 'Quote delivery' },
  { key: 'tradeLatencyMs', label: 'Order → trade' },
  { key: 'clientRttMs', label: 'Client round trip' },
] as const;

const PERCENTILES = ['p50', 'p95', 'p99'] as const;

const integer = new Intl.NumberFormat('en-US');
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** Milliseconds with two decimals; "—" when there were no samples. */
export function formatMs(value: number | null): string {
  return value === null ? '—' : twoDecimals.format(value);
}

function Title() {
  return <h1 id="ops-title">Operations</h1>;
}

function AdminsOnly() {
  return (
    <section className="panel page ops" aria-labelledby="ops-title" data-testid="ops-forbidden">
      <header className="panel-head">
        <Title />
      </header>
      <p className="notice" role="status">
        This page is for administrators only. Your account can trade and watch prices, but not see
        the service&rsquo;s operating figures.
      </p>
    </section>
  );
}

export function OpsFigures({ stats, state, error }: { stats: OpsStats | null; state: ConnectionState; error: string | null }) {
  const stale = stats !== null && state !== 'live' && state !== 'polling';
  const fig = (value: string | undefined) => value ?? <span className="skeleton" aria-hidden="true" />;
  return (
    <section
      className="panel page ops"
      aria-labelledby="ops-title"
      aria-busy={stats === null}
      data-stale={stale}
      data-testid="ops"
      data-ts={stats?.ts}
    >
      <header className="panel-head">
        <Title />
        <div className="panel-meta">
          {stats && (
            <span className="muted as-of" data-field="updated">
              updated {formatTime(new Date(stats.ts).toISOString())}
            </span>
          )}
          <FreshnessBadge state={state} />
        </div>
      </header>
      <p className="muted small ops-instance">
        Instance <code data-field="instance">{stats?.instance ?? '…'}</code> (the one this tab is connected
        to; latencies over the last minute, in milliseconds)
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <dl className="stats ops-stats">
        <div className="stat">
          <dt>Connections</dt>
          <dd className="num" data-field="connections">
            {fig(stats ? integer.format(stats.connections) : undefined)}
          </dd>
        </div>
        <div className="stat">
          <dt>Messages/s</dt>
          <dd className="num" data-field="messagesPerSecond">
            {fig(stats ? oneDecimal.format(stats.messagesPerSecond) : undefined)}
          </dd>
        </div>
      </dl>
      <div className="table-wrap">
        <table className="table ops-latency">
          <caption className="visually-hidden">Latency percentiles in milliseconds</caption>
          <thead>
            <tr>
              <th scope="col" className="c-metric">Latency (ms)</th>
              {PERCENTILES.map((p) => (
                <th scope="col" className="num" key={p}>
                  {p}
                </th>
              ))}
              <th scope="col" className="num hide-xs">Samples</th>
            </tr>
          </thead>
          <tbody>
            {LATENCIES.map(({ key, label }) => {
              const figures: LatencyFigures | undefined = stats?.[key];
              return (
                <tr key={key} data-latency={key}>
                  <th scope="row">{label}</th>
                  {PERCENTILES.map((p) => (
                    <td className="num" key={p} data-field={p}>
                      {figures ? formatMs(figures[p]) : '…'}
                    </td>
                  ))}
                  <td className="num hide-xs" data-field="count">
                    {figures ? integer.format(figures.count) : '…'}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function OpsPage() {
  const { user } = useAuth();
  const { client, status } = useRealtime();
  const isAdmin = user?.role === 'admin';
  const { stats, forbidden, error } = useOpsStats(client, status.state, isAdmin);

  useEffect(() => {
    document.title = 'Ops · Tradewire';
    return () => {
      document.title = 'Tradewire';
    };
  }, []);

  if (!isAdmin || forbidden) return <AdminsOnly />;
  return (
    <>
      <OpsFigures stats={stats} state={status.state} error={error} />
      <RolloutControl />
    </>
  );
}
