// Counting helpers shared by the primary and the workers.

export const HIST_MAX_MS = 120_000;

/** A latency histogram with 1 ms buckets from 0 to HIST_MAX_MS (the last bucket holds more). */
export class Histogram {
  constructor() {
    this.counts = new Uint32Array(HIST_MAX_MS + 1);
    this.n = 0;
    this.max = 0;
  }

  record(ms) {
    const v = ms < 0 ? 0 : ms > HIST_MAX_MS ? HIST_MAX_MS : ms;
    this.counts[v] += 1;
    this.n += 1;
    if (ms > this.max) this.max = ms;
  }

  /** Non-zero buckets as [[ms, count], ...]: small enough to send over IPC. */
  toSparse() {
    const out = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) out.push([i, this.counts[i]]);
    return { buckets: out, n: this.n, max: this.max };
  }

  addSparse({ buckets, n, max }) {
    for (const [ms, c] of buckets) this.counts[ms] += c;
    this.n += n;
    if (max > this.max) this.max = max;
  }

  percentile(p) {
    if (!this.n) return null;
    const rank = Math.ceil((p / 100) * this.n);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i;
    }
    return HIST_MAX_MS;
  }

  summary() {
    if (!this.n) return { n: 0, p50: null, p95: null, p99: null, max: null };
    return {
      n: this.n,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.max,
    };
  }
}

/** Exact percentiles of a small list of samples (order latencies: a few thousand). */
export function summarize(samples) {
  if (!samples.length) return { n: 0, p50: null, p95: null, p99: null, max: null };
  const s = Float64Array.from(samples).sort();
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(at(50)), p95: r(at(95)), p99: r(at(99)), max: r(s[s.length - 1]) };
}

export function mergeCounts(into, from) {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
  return into;
}

/** mulberry32: a small seeded PRNG, so the symbol choice of every client repeats. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `k` distinct items of `items`, chosen with `rand`. */
export function sample(items, k, rand) {
  const a = items.slice();
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}
