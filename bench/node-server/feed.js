// The simulated market of the comparison server: the same model as tradewire's
// `market/simulated.py`, so both servers push the same number of quotes of the same shape.
//
// - Each symbol ticks as an independent Poisson process with `tickRate` ticks per second; all
//   symbols' next tick times sit in one heap and one timer waits for the earliest.
// - Prices follow GBM with zero drift, time compressed 60x (one real second = one trading
//   minute); `last` is rounded to cents, bid/ask sit 1.5 basis points either side.
// - A quote is {symbol, bid, ask, last, open, change, changePct, seq, ts}: prices are decimal
//   strings, `seq` counts the symbol's ticks from 1, `ts` is epoch milliseconds when made.

const SIM_SECONDS_PER_YEAR = (252 * 6.5 * 3600) / 60;
const HALF_SPREAD = 0.00015;

// mulberry32: a small seeded PRNG, so a seeded market repeats.
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

const cents = (x) => Math.max(Math.round(x * 100), 1);
const money = (c) => (c / 100).toFixed(2);

export class SimulatedFeed {
  /**
   * @param {{symbol: string, name: string, basePrice: number, volatility: number}[]} symbols
   * @param {number} tickRate mean ticks per second per symbol
   * @param {(quote: object) => void} onQuote called for every new quote
   */
  constructor(symbols, tickRate, onQuote, seed = 1) {
    this.rand = seededRandom(seed);
    this.tickRate = tickRate;
    this.onQuote = onQuote;
    this.tracks = symbols.map((s) => ({
      info: s,
      price: s.basePrice,
      openCents: Math.max(cents(s.basePrice), 2),
      seq: 1,
      time: 0,
    }));
    this.latest = new Map(this.tracks.map((t) => [t.info.symbol, this.quote(t)]));
    // heap of [due (s since start), track index]
    this.heap = this.tracks.map((_, i) => [this.expo(), i]);
    this.heap.sort((a, b) => a[0] - b[0]);
    this.timer = null;
  }

  expo() {
    return -Math.log(1 - this.rand()) / this.tickRate;
  }

  gauss() {
    const u = 1 - this.rand();
    const v = this.rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  start() {
    this.anchor = Date.now() / 1000;
    this.schedule();
  }

  stop() {
    clearTimeout(this.timer);
  }

  schedule() {
    const [due] = this.heap[0];
    const wait = Math.max(0, (this.anchor + due) * 1000 - Date.now());
    this.timer = setTimeout(() => this.tickDue(), wait);
  }

  tickDue() {
    const nowS = Date.now() / 1000 - this.anchor;
    while (this.heap[0][0] <= nowS) {
      const [due, index] = this.heap[0];
      this.replaceTop([due + this.expo(), index]);
      const track = this.tracks[index];
      this.advance(track, due);
      const q = this.quote(track);
      this.latest.set(track.info.symbol, q);
      this.onQuote(q);
    }
    this.schedule();
  }

  advance(track, now) {
    const years = (now - track.time) / SIM_SECONDS_PER_YEAR;
    const sigma = track.info.volatility;
    track.price *= Math.exp(-0.5 * sigma * sigma * years + sigma * Math.sqrt(years) * this.gauss());
    track.time = now;
    track.seq += 1;
  }

  quote(track) {
    const last = Math.max(cents(track.price), 2);
    const half = Math.max(cents(track.price * HALF_SPREAD), 1);
    const change = last - track.openCents;
    return {
      symbol: track.info.symbol,
      bid: money(Math.max(last - half, 1)),
      ask: money(last + half),
      last: money(last),
      open: money(track.openCents),
      change: money(change),
      changePct: ((change / track.openCents) * 100).toFixed(2),
      seq: track.seq,
      ts: Date.now(),
    };
  }

  // binary heap: replace the smallest entry and sift down
  replaceTop(entry) {
    const h = this.heap;
    h[0] = entry;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l][0] < h[m][0]) m = l;
      if (r < h.length && h[r][0] < h[m][0]) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
