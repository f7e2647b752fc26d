/**
 * The reconnect back-off of docs/WEBSOCKET.md, "Reconnecting", for the disconnects socket.io
 * does not retry by itself (`io server disconnect`, a refused handshake):
 *
 * - the first wait is `initialMs` (1 s), or the `reconnectAfterMs` of a `server:shutdown` that
 *   came first;
 * - each wait is the current delay times a random factor in [0.5, 1.5) (jitter, so thousands of
 *   clients do not come back in the same second); the delay then doubles, up to `maxMs` (30 s);
 * - a successful connect resets it.
 */
export interface BackoffOptions {
  /** First delay in ms (default 1000). */
  initialMs?: number;
  /** Largest delay in ms (default 30000). */
  maxMs?: number;
  /** [0, 1) source of jitter (default Math.random). */
  random?: () => number;
}

export const DEFAULT_INITIAL_MS = 1000;
export const DEFAULT_MAX_MS = 30_000;

export class ReconnectBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private delay: number;
  /** Waits handed out since the last reset. */
  attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? DEFAULT_INITIAL_MS;
    this.maxMs = options.maxMs ?? DEFAULT_MAX_MS;
    this.random = options.random ?? Math.random;
    this.delay = this.initialMs;
  }

  /** The delay the next wait is based on (before jitter). */
  get currentMs(): number {
    return this.delay;
  }

  /** A `server:shutdown` arrived: the next wait starts from the server's `reconnectAfterMs`. */
  shutdown(reconnectAfterMs: number): void {
    this.delay = Math.min(Math.max(0, reconnectAfterMs), this.maxMs);
  }

  /** The wait before the next attempt (jittered); doubles the delay for the one after. */
  next(): number {
    const wait = Math.round(this.delay * (0.5 + this.random()));
    this.delay = Math.min(this.delay * 2, this.maxMs);
    this.attempts += 1;
    return wait;
  }

  /** Connected: back to `initialMs`. */
  reset(): void {
    this.delay = this.initialMs;
    this.attempts = 0;
  }
}
