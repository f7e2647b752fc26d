import type { ConnectionStatus as Status } from '../realtime/useWebSocket';
import { useRealtime } from '../realtime/WebSocketContext';

export function connectionLabel({ state, attempt }: Status): string {
  switch (state) {
    case 'live':
      return 'Live';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return attempt > 0 ? `Reconnecting (attempt ${attempt})` : 'Reconnecting…';
    case 'offline':
      return 'Offline';
    case 'unauthorized':
      return 'Signed out';
    case 'polling':
      return 'Polling';
  }
}

const DESCRIPTIONS: Record<Status['state'], string> = {
  live: 'Real-time updates are streaming.',
  connecting: 'Opening the real-time connection.',
  reconnecting: 'The connection dropped; retrying with back-off. Figures shown may be stale.',
  offline: 'Your device is offline. Figures shown may be stale.',
  unauthorized: 'Your session is no longer valid.',
  polling: 'Real-time is unavailable; refreshing every 2 seconds.',
};
const RECOVERED = 'Reconnected and caught up: the connection was recovered and every event missed meanwhile was replayed.';

/** The header's always-visible connection indicator. `data-connection-state` is the state
 * machine's value (tests wait on it); the visible label adds the attempt number. */
export function ConnectionStatusView({ status }: { status: Status }) {
  const label = connectionLabel(status);
  const recovered = status.state === 'live' && status.recovered === true;
  return (
    <div
      className="conn"
      data-connection-state={status.state}
      data-attempt={status.attempt}
      data-recovered={recovered ? 'true' : undefined}
      title={recovered ? RECOVERED : DESCRIPTIONS[status.state]}
    >
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-label" aria-hidden="true">
        {label}
      </span>
      {recovered && (
        <span className="conn-note" data-testid="conn-recovered">
          recovered
        </span>
      )}
      {/* Announced without the attempt counter, so a screen reader is not told every retry. */}
      <span className="visually-hidden" role="status" aria-live="polite">
        Connection: {connectionLabel({ state: status.state, attempt: 0 })}
      </span>
    </div>
  );
}

export function ConnectionStatus() {
  const { status } = useRealtime();
  return <ConnectionStatusView status={status} />;
}
