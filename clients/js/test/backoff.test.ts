import { describe, expect, it } from 'vitest';
import { ReconnectBackoff } from '../src/index.js';

/** A "random" source that returns these values in turn. */
function sequence(...values: number[]) {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

describe('ReconnectBackoff', () => {
  it('starts at 1 s, doubles on every failure and stops at 30 s', () => {
    const backoff = new ReconnectBackoff({ random: () => 0.5 }); // factor 1: no jitter
    const waits = Array.from({ length: 8 }, () => backoff.next());
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(backoff.attempts).toBe(8);
  });

  it('jitters each wait between half and one and a half times the delay', () => {
    const backoff = new ReconnectBackoff({ random: sequence(0, 0.999) });
    expect(backoff.next()).toBe(500);
    expect(backoff.next()).toBe(Math.round(2000 * 1.499));
  });

  it('starts from reconnectAfterMs when a server:shutdown came first', () => {
    const backoff = new ReconnectBackoff({ random: () => 0.5 });
    backoff.next();
    backoff.next(); // the delay is now 4 s
    backoff.shutdown(1500);
    expect([backoff.next(), backoff.next()]).toEqual([1500, 3000]);
  });

  it('caps a shutdown delay too, and goes back to the start after a connect', () => {
    const backoff = new ReconnectBackoff({ random: () => 0.5, initialMs: 200, maxMs: 5000 });
    backoff.shutdown(60_000);
    expect(backoff.next()).toBe(5000);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(200);
  });
});
