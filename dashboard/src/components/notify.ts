/** Toasts shared by several components (sonner; ids make repeats update instead of stack). */
import { toast } from 'sonner';

const FRIENDLY: Record<string, string> = {
  'subscribe:watchlist': 'watchlist',
  'unsubscribe:watchlist': 'watchlist',
  'subscribe:portfolio': 'portfolio',
  'subscribe:trades': 'trade history',
};

/** "subscribe:watchlist" -> "watchlist"; REST callers pass a word already ("order"). */
export function describeLimited(event: string): string {
  return FRIENDLY[event] ?? event;
}

export function notifyRateLimited(what: string, retryAfterMs: number): void {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const name = describeLimited(what);
  toast.warning(`Slow down: too many ${name} requests; retry in ${seconds} s`, {
    id: `rate-limited-${name}`,
    duration: Math.max(4000, retryAfterMs),
  });
}
