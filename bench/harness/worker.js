// One load-generator worker process: a share of the Socket.IO clients and of the users' orders.
//
// Driven by the primary (main.js) over cluster IPC, one step at a time:
//   init -> connect -> subscribe -> start {lo} -> end {hi} -> (drained) -> collect -> close
// Counting: a quote of symbol i counts as delivered when lo[i] < seq <= hi[i] (the seq window the
// primary chose from the server's own quote snapshots); its latency is arrival - quote.ts.
// "Covered" counts, per socket, every seq of the window up to the newest one it received: with
// `quotes:update` batches the server sends only the latest quote of a symbol per flush, so the
// seqs it skipped are covered (conflated) rather than delivered. Without batches the two agree.
// Several servers (a cluster): each client connects to its own `c.url`; `c.instance` indexes the
// per-instance figures (quote latency, coverage, trade pushes and their latency from the trade's
// `executedAt`, i.e. from the fill to the arrival on that instance's socket).

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import { request } from './http.js';
import { LeanSocket } from './lean.js';
import { Histogram } from './stats.js';

let cfg;
let url;
let symbols = [];
let symIndex = new Map();
let lo; // per symbol: count seq > lo (Infinity until the window starts)
let hi; // per symbol: count seq <= hi (Infinity until the window ends)
let subs; // per symbol: sockets of this worker subscribed to it
let maxSeq; // per symbol: the highest seq any socket of this worker received
let perInstance = []; // per server of a cluster: see newInstance()

function newInstance(nSymbols) {
  return {
    subs: new Float64Array(nSymbols), // sockets of this worker on it, per symbol
    covered: 0,
    quoteLatency: new Histogram(),
    tradePushLatency: new Histogram(),
    tradeEvents: 0,
    tradeEventsExpected: 0, // per filled order: the user's subscribed sockets on it
  };
}

const clients = []; // {idx, userId, sessionId, symbols, socket, connected, subscribed}
const users = new Map(); // userId -> {userId, sessionId, holdings: symbols bought, not sold}
const quoteLatency = new Histogram();
let quotesReceived = 0;
let quoteEvents = 0;
let delivered = 0;
let covered = 0;
let portfolioEvents = 0;
let tradeFailedEvents = 0;
let closing = false;
let windowOpen = false; // between start and end: quote events are counted for the rate

const counters = {
  connected: 0,
  connect_errors: 0,
  connect_error_reasons: {},
  subscribed: 0,
  subscribe_errors: 0,
  subscribe_error_reasons: {},
  disconnects: 0,
  disconnect_reasons: {},
};

const orders = {
  rate: 0,
  timer: null,
  active: false,
  sent: 0,
  filled: 0,
  rejected: 0,
  http_errors: {},
  pending: 0,
  httpMs: [],
  latencyMs: [],
  awaiting: new Map(), // orderId -> send time, response seen, event not yet
  arrivals: new Map(), // orderId -> event arrival time, response not yet
  done: new Set(),
};

let rand = Math.random;
const eld = monitorEventLoopDelay({ resolution: 10 });
let cpuAtStart;
let wallAtStart;
let cpuWindow = null;

const bump = (obj, key) => {
  obj[key] = (obj[key] ?? 0) + 1;
};

function onQuote(q, c) {
  quotesReceived += 1;
  const i = symIndex.get(q.symbol);
  if (i === undefined) return;
  const s = q.seq;
  if (s > maxSeq[i]) maxSeq[i] = s;
  if (s > lo[i] && s <= hi[i]) {
    delivered += 1;
    quoteLatency.record(Date.now() - q.ts);
  }
  const from = Math.max(c.newest[i], lo[i]);
  const to = Math.min(s, hi[i]);
  if (to > from) {
    covered += to - from;
    perInstance[c.instance].covered += to - from;
  }
  if (s > c.newest[i]) c.newest[i] = s;
  if (s > lo[i] && s <= hi[i]) perInstance[c.instance].quoteLatency.record(Date.now() - q.ts);
}

function onTradeExecuted(trade, c) {
  const at = perInstance[c.instance];
  at.tradeEvents += 1;
  const executedAt = Date.parse(trade?.executedAt);
  if (Number.isFinite(executedAt)) at.tradePushLatency.record(Date.now() - executedAt);
  const id = trade?.orderId;
  if (id === undefined || orders.done.has(id)) return;
  const now = performance.now();
  const sentAt = orders.awaiting.get(id);
  if (sentAt !== undefined) {
    orders.latencyMs.push(now - sentAt);
    orders.awaiting.delete(id);
    orders.done.add(id);
  } else if (!orders.arrivals.has(id)) {
    orders.arrivals.set(id, now);
  }
}

function connectOne(c) {
  return new Promise((resolve) => {
    const options = { auth: { sessionId: c.sessionId }, timeout: cfg.connectTimeoutS * 1000 };
    const socket =
      cfg.client === 'lean'
        ? new LeanSocket(c.url ?? url, options)
        : io(c.url ?? url, { ...options, transports: ['websocket'], reconnection: false, forceNew: true });
    c.socket = socket;
    socket.once('connect', () => {
      c.connected = true;
      counters.connected += 1;
      resolve();
    });
    socket.once('connect_error', (err) => {
      counters.connect_errors += 1;
      bump(counters.connect_error_reasons, String(err?.message ?? err).slice(0, 80));
      socket.close();
      resolve();
    });
    socket.on('disconnect', (reason) => {
      if (closing) return;
      counters.disconnects += 1;
      bump(counters.disconnect_reasons, reason);
    });
    socket.on('quote:update', (q) => {
      if (windowOpen) quoteEvents += 1;
      onQuote(q, c);
    });
    socket.on('quotes:update', (batch) => {
      if (windowOpen) quoteEvents += 1;
      for (const q of batch.quotes) onQuote(q, c);
    });
    socket.on('trade:executed', (trade) => onTradeExecuted(trade, c));
    socket.on('portfolio:update', () => {
      portfolioEvents += 1;
    });
    socket.on('trade:failed', () => {
      tradeFailedEvents += 1;
    });
  });
}

function subscribeOne(c) {
  return new Promise((resolve) => {
    if (!c.connected || !c.socket.connected) return resolve();
    c.socket
      .timeout(cfg.connectTimeoutS * 1000)
      .emit('subscribe:watchlist', { symbols: c.symbols, batch: cfg.batch }, (err, ack) => {
        if (!err && ack?.ok) {
          c.subscribed = true;
          counters.subscribed += 1;
          for (const s of c.symbols) {
            subs[symIndex.get(s)] += 1;
            perInstance[c.instance].subs[symIndex.get(s)] += 1;
          }
        } else {
          counters.subscribe_errors += 1;
          bump(
            counters.subscribe_error_reasons,
            err ? String(err.message ?? err) : String(ack?.error?.code ?? 'bad ack'),
          );
        }
        resolve();
      });
  });
}

/** Run `fn` over `items` with at most `concurrency` in flight; items not started by
 * `deadline` (epoch ms) go to `late` instead. */
async function pool(items, concurrency, deadline, fn, late) {
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (Date.now() > deadline) late(item);
      else await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runner));
}

// ------------------------------------------------------------------ orders

function scheduleOrder() {
  if (!orders.active || orders.rate <= 0) return;
  const gapMs = (-Math.log(1 - rand()) / orders.rate) * 1000;
  orders.timer = setTimeout(() => {
    placeOrder();
    scheduleOrder();
  }, gapMs);
}

/** Open loop: an order goes out on every tick of the Poisson clock, however slow the server
 * answers (a closed loop would send less exactly when the server is slow). A user sells a share
 * it holds half of the time, else buys one, so cash and holdings stay level over any run. */
function placeOrder() {
  const list = [...users.values()];
  const user = list[Math.floor(rand() * list.length)];
  const sell = user.holdings.length > 0 && rand() < 0.5;
  const symbol = sell ? user.holdings.pop() : symbols[Math.floor(rand() * symbols.length)];
  const side = sell ? 'sell' : 'buy';
  orders.pending += 1;
  orders.sent += 1;
  const sentAt = performance.now();
  request(url, 'POST', '/api/orders', {
    body: { symbol, side, quantity: 1 },
    token: user.sessionId,
  })
    .then(({ status, json }) => {
      orders.httpMs.push(performance.now() - sentAt);
      if (status === 201 && json?.status === 'filled') {
        orders.filled += 1;
        for (const c of user.sockets) if (c.subscribed) perInstance[c.instance].tradeEventsExpected += 1;
        if (side === 'buy') user.holdings.push(symbol);
        const id = json.orderId;
        const arrived = orders.arrivals.get(id);
        if (arrived !== undefined) {
          orders.latencyMs.push(arrived - sentAt);
          orders.arrivals.delete(id);
          orders.done.add(id);
        } else {
          orders.awaiting.set(id, sentAt);
        }
      } else if (status === 201) {
        orders.rejected += 1;
      } else {
        bump(orders.http_errors, String(status));
      }
    })
    .catch((err) => bump(orders.http_errors, String(err?.code ?? err?.message ?? err)))
    .finally(() => {
      orders.pending -= 1;
    });
}

// ------------------------------------------------------------------ steps

/** Quotes this worker should get for the window, counting only ticks that exist (`seen`: the
 * highest seq per symbol anyone saw; the primary passes the maximum over all workers). */
function expected(seen = maxSeq) {
  let total = 0;
  for (let i = 0; i < symbols.length; i++) {
    if (Number.isFinite(lo[i]) && Number.isFinite(hi[i])) {
      total += subs[i] * Math.max(0, Math.min(hi[i], seen[i]) - lo[i]);
    }
  }
  return total;
}

/** Drained: every tick of the window exists, was seen here, and reached every subscriber. */
function allProduced() {
  for (let i = 0; i < symbols.length; i++) if (subs[i] > 0 && maxSeq[i] < hi[i]) return false;
  return true;
}

function watchDrain() {
  const timer = setInterval(() => {
    if (
      allProduced() &&
      covered >= expected() &&
      orders.pending === 0 &&
      orders.awaiting.size === 0
    ) {
      clearInterval(timer);
      process.send({ type: 'drained' });
    }
  }, 100);
}

function stats() {
  return {
    ...counters,
    quotes_received: quotesReceived,
    quote_events: quoteEvents,
    quotes_delivered: delivered,
    quotes_covered: covered,
    subs: Array.from(subs),
    max_seq: Array.from(maxSeq),
    quote_latency: quoteLatency.toSparse(),
    portfolio_events: portfolioEvents,
    trade_failed_events: tradeFailedEvents,
    orders_sent: orders.sent,
    orders_filled: orders.filled,
    orders_rejected: orders.rejected,
    orders_unresolved: orders.pending + orders.awaiting.size,
    order_http_errors: orders.http_errors,
    order_latency_samples: orders.latencyMs,
    order_http_samples: orders.httpMs,
    trade_events_missing: orders.awaiting.size,
    per_instance: perInstance.map((at) => ({
      subs: Array.from(at.subs),
      quotes_covered: at.covered,
      quote_latency: at.quoteLatency.toSparse(),
      trade_push_latency: at.tradePushLatency.toSparse(),
      trade_events: at.tradeEvents,
      trade_events_expected: at.tradeEventsExpected,
    })),
    cpu_s: cpuWindow?.cpu_s ?? 0,
    wall_s: cpuWindow?.wall_s ?? 0,
    eld_p99_ms: eld.percentile(99) / 1e6,
    eld_max_ms: eld.max / 1e6,
  };
}

process.on('message', async (msg) => {
  switch (msg.type) {
    case 'init': {
      cfg = msg.cfg;
      url = msg.url;
      symbols = msg.symbols;
      symIndex = new Map(symbols.map((s, i) => [s, i]));
      lo = new Float64Array(symbols.length).fill(Infinity);
      hi = new Float64Array(symbols.length).fill(Infinity);
      subs = new Float64Array(symbols.length);
      maxSeq = new Float64Array(symbols.length);
      for (const c of msg.clients) {
        const newest = new Float64Array(symbols.length).fill(-Infinity);
        clients.push({ instance: 0, ...c, connected: false, subscribed: false, newest });
      }
      for (const u of msg.users) users.set(u.userId, { ...u, holdings: [], sockets: [] });
      for (const c of clients) users.get(c.userId)?.sockets.push(c);
      const instances = 1 + Math.max(0, ...clients.map((c) => c.instance));
      perInstance = Array.from({ length: instances }, () => newInstance(symbols.length));
      orders.rate = msg.orderRate;
      let seed = msg.seed >>> 0;
      rand = () => {
        // mulberry32 (inlined: orders only)
        seed = (seed + 0x6d2b79f5) >>> 0;
        let t = seed;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      process.send({ type: 'ready' });
      break;
    }
    case 'connect':
      await pool(clients, msg.concurrency, msg.deadline, connectOne, () => {
        counters.connect_errors += 1;
        bump(counters.connect_error_reasons, 'not started: connect phase deadline');
      });
      process.send({ type: 'connected', counters });
      break;
    case 'subscribe':
      await pool(clients, msg.concurrency, msg.deadline, subscribeOne, (c) => {
        if (!c.connected) return;
        counters.subscribe_errors += 1;
        bump(counters.subscribe_error_reasons, 'not started: subscribe phase deadline');
      });
      process.send({ type: 'subscribed', counters });
      break;
    case 'start':
      msg.lo.forEach((v, i) => {
        lo[i] = v;
      });
      eld.enable();
      cpuAtStart = process.cpuUsage();
      wallAtStart = performance.now();
      orders.active = true;
      windowOpen = true;
      scheduleOrder();
      break;
    case 'end': {
      msg.hi.forEach((v, i) => {
        hi[i] = v;
      });
      orders.active = false;
      windowOpen = false;
      clearTimeout(orders.timer);
      const cpu = process.cpuUsage(cpuAtStart);
      cpuWindow = {
        cpu_s: (cpu.user + cpu.system) / 1e6,
        wall_s: (performance.now() - wallAtStart) / 1000,
      };
      eld.disable();
      watchDrain();
      break;
    }
    case 'maxseq':
      process.send({ type: 'maxseq', maxSeq: Array.from(maxSeq) });
      break;
    case 'collect':
      process.send({ type: 'stats', stats: stats() });
      break;
    case 'close':
      closing = true;
      for (const c of clients) c.socket?.close();
      setTimeout(() => process.exit(0), 200);
      break;
    default:
      break;
  }
});

process.on('disconnect', () => process.exit(0));
process.send({ type: 'hello' });
