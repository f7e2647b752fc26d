/** Shows the server's `rate_limited` events and REST 429s as "Slow down" toasts. Renders nothing. */
import { useEffect } from 'react';
import { onRateLimited } from '../api/client';
import type { RateLimitedEvent } from '../api/types';
import { useRealtime } from '../realtime/WebSocketContext';
import { notifyRateLimited } from './notify';

export function RateLimitNotices() {
  const { socket } = useRealtime();

  useEffect(() => onRateLimited(({ what, retryAfterMs }) => {
    notifyRateLimited(what, retryAfterMs);
  }), []);

  useEffect(() => {
    if (!socket) return;
    const onLimited = (event: RateLimitedEvent) => {
      notifyRateLimited(event.event, event.retryAfterMs);
    };
    socket.on('rate_limited', onLimited);
    return () => {
      socket.off('rate_limited', onLimited);
    };
  }, [socket]);

  return null;
}
