// The load generator: creates users and sessions over REST, runs N authenticated Socket.IO
// clients (WebSocket transport) in several worker processes, places orders over REST, and prints
// one JSON result line.
//
//   node main.js '<config JSON>'      (bench/run.py builds the config; see DEFAULTS below)
//
// stdout carries JSON lines only: {"phase": ...} as the run moves on (bench/run.py samples the
// server's CPU and memory at each), then one {"result": {...}}. Progress notes go to stderr.
//
// Phases: idle (users logged in, no sockets) -> connected -> subscribed -> steady_start ->
// [sample ...] -> steady_end -> result.
//
// Quote counting: at steady_start the primary reads GET /api/quotes and sets, per symbol,
// lo = seq + margin; at steady_end likewise hi. Every quote of that symbol with lo < seq <= hi is
// expected once on each socket subscribed to it, so "expected" is exact whatever the Poisson
// draws were, and "delivered" counts the ones that arrived before the drain deadline (inside
// `quotes:update` batches too). The margin (a second or two of ticks) makes sure each worker knows
// the bound before the first quote past it exists.

import cluster from 'node:cluster';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from './http.js';
import { Histogram, mergeCounts, sample, seededRandom, summarize } from './stats.js';

const DEFAULTS = {
  url: 'http://127.0.0.1:8000', // REST: users, sessions, orders, quote snapshots
  socketUrls: null, // the servers the sockets connect to, round-robin (default: [url])
  clients: 20,
  users: 2,
  sessionsPerUser: 1,
  symbolsPerClient: 10,
  batch: false,
  client: 'socket.io-client', // or 'lean': lean.js, the same protocol at less generator CPU
  ordersPerSecond: 2,
  workers: 1,
  connectConcurrency: 64,
  connectTimeoutS: 60,
  phaseDeadlineS: 300,
  warmupS: 2,
  steadyS: 5,
  drainS: 10,
  sampleEveryS: 0,
  tickRate: 1,
  idle: false, // no quote window, no orders: the steady state of an idle server (S5)
  seed: 1,
  userPrefix: 'bench',
  password: 'bench-password',
  setupConcurrency: 4,
};

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...args) => console.error(`[harness ${new Date().toISOString()}]`, ...args);
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const phase = (name, extra = {}) => emit({ phase: name, t: Date.now() / 1000, ...extra });

async function pool(items, concurrency, fn) {
  let next = 0;
  const out = new Array(items.length);
  const runner = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runner));
  return out;
}

async function api(cfg, method, path, opts) {
  const res = await request(cfg.url, method, path, { timeoutMs: 120000, ...opts });
  return res;
}

async function setupUsers(cfg) {
  const names = Array.from(
    { length: cfg.users },
    (_, i) => `${cfg.userPrefix}${String(i).padStart(5, '0')}`,
  );
  const started = Date.now();
  await pool(names, cfg.setupConcurrency, async (username) => {
    const res = await api(cfg, 'POST', '/api/auth/register', {
      body: { username, password: cfg.password },
    });
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`register ${username}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
  });
  const registered = Date.now();
  const logins = names.flatMap((username) =>
    Array.from({ length: cfg.sessionsPerUser }, () => username),
  );
  const sessions = await pool(logins, cfg.setupConcurrency, async (username) => {
    const res = await api(cfg, 'POST', '/api/auth/login', {
      body: { username, password: cfg.password },
    });
    if (res.status !== 200) {
      throw new Error(`login ${username}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
    return { username, userId: res.json.userId, sessionId: res.json.sessionId };
  });
  const byUser = new Map();
  for (const s of sessions) {
    if (!byUser.has(s.userId)) byUser.set(s.userId, []);
    byUser.get(s.userId).push(s.sessionId);
  }
  return {
    users: [...byUser.entries()].map(([userId, ids]) => ({ userId, sessionIds: ids })),
    register_s: (registered - started) / 1000,
    login_s: (Date.now() - registered) / 1000,
  };
}

const SNAPSHOT_TIMEOUT_MS = 15000;

/**
 * Per symbol, a seq bound `margin` ticks past the newest quote: from the server's own
 * GET /api/quotes, or, when a saturated server does not answer within 15 s, from the newest seq
 * any client received, with twice the margin (the clients' view lags the server's).
 */
async function seqBounds(cfg, symbols, margin, workers) {
  try {
    const res = await request(cfg.url, 'GET', '/api/quotes', { timeoutMs: SNAPSHOT_TIMEOUT_MS });
    if (res.status !== 200) throw new Error(`GET /api/quotes: HTTP ${res.status}`);
    const seq = new Map(res.json.map((q) => [q.symbol, q.seq]));
    return { bounds: symbols.map((s) => seq.get(s) + margin), source: 'server' };
  } catch (err) {
    log(`quote snapshot failed (${err.message}); using the clients' newest seq`);
    const seen = await maxSeen(workers, symbols.length);
    return { bounds: seen.map((s) => s + 2 * margin), source: 'clients' };
  }
}

async function maxSeen(workers, n) {
  const wait = workers.waitAll('maxseq');
  workers.send({ type: 'maxseq' });
  const seen = new Array(n).fill(0);
  for (const r of await wait) r.maxSeq.forEach((v, i) => (seen[i] = Math.max(seen[i], v)));
  return seen;
}

class Workers {
  constructor(count) {
    cluster.setupPrimary({ exec: join(here, 'worker.js'), silent: false });
    this.list = Array.from({ length: count }, () => cluster.fork());
    this.waiters = new Map();
    // a worker says hello once its message handler is in place (earlier messages would be lost)
    this.hello = this.waitAll('hello');
    for (const w of this.list) {
      w.on('message', (msg) => this.onMessage(w, msg));
      w.on('exit', (code) => {
        if (!this.closing && code !== 0) {
          log(`worker ${w.id} exited with code ${code}`);
          process.exit(3);
        }
      });
    }
  }

  onMessage(w, msg) {
    const key = msg.type;
    const waiter = this.waiters.get(key);
    if (waiter) waiter.got.set(w.id, msg);
    if (waiter && waiter.got.size === this.list.length) {
      this.waiters.delete(key);
      waiter.resolve([...waiter.got.values()]);
    }
  }

  /** Wait for `type` from every worker; `timeoutMs` (0: none) resolves with what arrived. */
  waitAll(type, timeoutMs = 0) {
    return new Promise((resolve) => {
      const waiter = { got: new Map(), resolve };
      this.waiters.set(type, waiter);
      if (timeoutMs > 0) {
        setTimeout(() => {
          if (this.waiters.get(type) === waiter) {
            this.waiters.delete(type);
            resolve([...waiter.got.values()]);
          }
        }, timeoutMs).unref();
      }
    });
  }

  send(msgFor) {
    this.list.forEach((w, i) => w.send(typeof msgFor === 'function' ? msgFor(i) : msgFor));
  }
}

function sumCounters(replies) {
  const total = {};
  for (const r of replies) {
    for (const [k, v] of Object.entries(r.counters ?? r.stats)) {
      if (typeof v === 'number') total[k] = (total[k] ?? 0) + v;
      else if (v && typeof v === 'object' && !Array.isArray(v) && !('buckets' in v))
        total[k] = mergeCounts(total[k] ?? {}, v);
    }
  }
  return total;
}

async function main() {
  const cfg = { ...DEFAULTS, ...JSON.parse(process.argv[2] ?? '{}') };

  const symbolList = (await api(cfg, 'GET', '/api/symbols')).json.map((s) => s.symbol);
  const socketUrls = cfg.socketUrls?.length ? cfg.socketUrls : [cfg.url];
  if (cfg.symbolsPerClient > symbolList.length) {
    throw new Error(`symbolsPerClient ${cfg.symbolsPerClient} > ${symbolList.length} symbols`);
  }
  log(`setting up ${cfg.users} users x ${cfg.sessionsPerUser} sessions`);
  const setup = await setupUsers(cfg);
  phase('idle', { users: setup.users.length });

  // Clients, round-robin over users; every socket of a user lives in the same worker, so that
  // worker sees the user's trade:executed events and matches them to the orders it placed.
  const W = Math.max(1, Math.min(cfg.workers, setup.users.length));
  const perWorker = Array.from({ length: W }, () => ({ clients: [], users: [] }));
  setup.users.forEach((u, i) => {
    perWorker[i % W].users.push({ userId: u.userId, sessionId: u.sessionIds[0] });
  });
  const userSlot = new Map(setup.users.map((u, i) => [u.userId, i % W]));
  const socketsOfUser = new Map();
  for (let idx = 0; idx < cfg.clients; idx++) {
    const u = setup.users[idx % setup.users.length];
    const nth = socketsOfUser.get(u.userId) ?? 0;
    socketsOfUser.set(u.userId, nth + 1);
    const rand = seededRandom(cfg.seed * 1_000_003 + idx);
    perWorker[userSlot.get(u.userId)].clients.push({
      idx,
      // a user's sockets alternate between the servers: each server holds some of every user
      instance: nth % socketUrls.length,
      url: socketUrls[nth % socketUrls.length],
      userId: u.userId,
      sessionId: u.sessionIds[nth % u.sessionIds.length],
      symbols: sample(symbolList, cfg.symbolsPerClient, rand),
    });
  }

  const workers = new Workers(W);
  await workers.hello;
  const ready = workers.waitAll('ready');
  workers.send((i) => ({
    type: 'init',
    cfg,
    url: cfg.url,
    symbols: symbolList,
    clients: perWorker[i].clients,
    users: perWorker[i].users,
    orderRate: (cfg.ordersPerSecond * perWorker[i].users.length) / setup.users.length,
    seed: cfg.seed * 7919 + i,
  }));
  await ready;

  log(`connecting ${cfg.clients} clients in ${W} workers`);
  const connectStarted = Date.now();
  const connectWait = workers.waitAll('connected');
  workers.send({
    type: 'connect',
    concurrency: Math.ceil(cfg.connectConcurrency / W),
    deadline: Date.now() + cfg.phaseDeadlineS * 1000,
  });
  const connected = sumCounters(await connectWait);
  const connectS = (Date.now() - connectStarted) / 1000;
  phase('connected', { connected: connected.connected, connect_errors: connected.connect_errors });

  log(`subscribing (${connected.connected} connected, ${connected.connect_errors} errors)`);
  const subscribeStarted = Date.now();
  const subscribeWait = workers.waitAll('subscribed');
  workers.send({
    type: 'subscribe',
    concurrency: Math.ceil(cfg.connectConcurrency / W),
    deadline: Date.now() + cfg.phaseDeadlineS * 1000,
  });
  const subscribed = sumCounters(await subscribeWait);
  const subscribeS = (Date.now() - subscribeStarted) / 1000;
  phase('subscribed', { subscribed: subscribed.subscribed });

  await sleep(cfg.warmupS * 1000);
  // a margin of about a second of ticks: every worker knows the bound before the quote after it
  const margin = Math.ceil(cfg.tickRate) + 1;
  // idle: an empty window (no seq is above lo and at most hi), so nothing counts as expected or
  // delivered, and the drain ends at once
  const { bounds: lo, source: loSource } = cfg.idle
    ? { bounds: symbolList.map(() => Number.MAX_VALUE), source: 'none (idle)' }
    : await seqBounds(cfg, symbolList, margin, workers);
  const steadyStart = Date.now();
  phase('steady_start');
  workers.send({ type: 'start', lo });
  const primaryCpu0 = process.cpuUsage();

  if (cfg.sampleEveryS > 0) {
    const until = steadyStart + cfg.steadyS * 1000;
    while (Date.now() + cfg.sampleEveryS * 1000 < until) {
      await sleep(cfg.sampleEveryS * 1000);
      phase('sample', { elapsed_s: (Date.now() - steadyStart) / 1000 });
    }
    await sleep(Math.max(0, until - Date.now()));
  } else {
    await sleep(cfg.steadyS * 1000);
  }
  const { bounds: hi, source: hiSource } = cfg.idle
    ? { bounds: symbolList.map(() => 0), source: 'none (idle)' }
    : await seqBounds(cfg, symbolList, margin, workers);
  const steadyS = (Date.now() - steadyStart) / 1000;
  phase('steady_end');
  const primaryCpu = process.cpuUsage(primaryCpu0);
  const drainWait = workers.waitAll('drained', ((margin / cfg.tickRate) * 3 + cfg.drainS) * 1000);
  workers.send({ type: 'end', hi });
  const drained = await drainWait;

  const statsWait = workers.waitAll('stats');
  workers.send({ type: 'collect' });
  const replies = (await statsWait).map((r) => r.stats);
  workers.closing = true;
  workers.send({ type: 'close' });

  const total = sumCounters(replies.map((stats) => ({ stats })));
  const hist = new Histogram();
  for (const r of replies) hist.addSparse(r.quote_latency);
  const orderLatency = summarize(replies.flatMap((r) => r.order_latency_samples));
  const orderHttp = summarize(replies.flatMap((r) => r.order_http_samples));
  const workerCpu = replies.reduce((a, r) => a + r.cpu_s, 0);
  const primaryCpuS = (primaryCpu.user + primaryCpu.system) / 1e6;
  // Ticks that exist: the window, cut at the newest seq anyone received by the end of the drain
  // (a saturated server's feed may not have reached `hi`). A tick no client received at all is
  // not counted as expected: with hundreds of subscribers per symbol, that is a tick still in
  // the server.
  const seen = new Array(symbolList.length).fill(0);
  for (const r of replies) r.max_seq.forEach((v, i) => (seen[i] = Math.max(seen[i], v)));
  const produced = symbolList.map((_, i) => Math.max(0, Math.min(hi[i], seen[i]) - lo[i]));
  const feedTicks = produced.reduce((a, b) => a + b, 0);
  let expected = 0;
  for (const r of replies) r.subs.forEach((n, i) => (expected += n * produced[i]));
  const q = hist.summary();
  const instances = socketUrls.map((socketUrl, k) => {
    const quoteHist = new Histogram();
    const pushHist = new Histogram();
    let covered = 0;
    let expectedHere = 0;
    let tradeEvents = 0;
    let tradeExpected = 0;
    for (const r of replies) {
      const at = r.per_instance[k];
      if (!at) continue;
      quoteHist.addSparse(at.quote_latency);
      pushHist.addSparse(at.trade_push_latency);
      covered += at.quotes_covered;
      at.subs.forEach((n, i) => (expectedHere += n * produced[i]));
      tradeEvents += at.trade_events;
      tradeExpected += at.trade_events_expected;
    }
    const ql = quoteHist.summary();
    const tp = pushHist.summary();
    return {
      url: socketUrl,
      quotes_expected: expectedHere,
      covered_ratio: expectedHere ? covered / expectedHere : null,
      quote_latency_ms: { p50: ql.p50, p95: ql.p95, p99: ql.p99, max: ql.max },
      trade_events: tradeEvents,
      trade_events_expected: tradeExpected,
      trade_push_ms: { n: tp.n, p50: tp.p50, p95: tp.p95, p99: tp.p99, max: tp.max },
    };
  });

  emit({
    result: {
      clients: cfg.clients,
      users: setup.users.length,
      sessions_per_user: cfg.sessionsPerUser,
      workers: W,
      symbols: symbolList.length,
      symbols_per_client: cfg.symbolsPerClient,
      batch: cfg.batch,
      idle: cfg.idle,
      setup_register_s: setup.register_s,
      setup_login_s: setup.login_s,
      connected: connected.connected,
      connect_errors: connected.connect_errors,
      connect_error_reasons: connected.connect_error_reasons,
      connect_s: connectS,
      subscribed: subscribed.subscribed,
      subscribe_errors: subscribed.subscribe_errors,
      subscribe_error_reasons: subscribed.subscribe_error_reasons,
      subscribe_s: subscribeS,
      disconnects: total.disconnects,
      disconnect_reasons: total.disconnect_reasons,
      steady_s: steadyS,
      quotes_expected: expected,
      quotes_delivered: total.quotes_delivered,
      delivered_ratio: expected ? total.quotes_delivered / expected : null,
      quotes_covered: total.quotes_covered,
      covered_ratio: expected ? total.quotes_covered / expected : null,
      instances,
      drained: drained.length === W,
      window_bounds_from: `${loSource}/${hiSource}`,
      feed_ticks_per_s: feedTicks / steadyS,
      feed_ticks_nominal_per_s: symbolList.length * cfg.tickRate,
      quote_updates_per_s: total.quotes_delivered / steadyS,
      quote_events_per_s: total.quote_events / steadyS,
      quote_latency_ms: { p50: q.p50, p95: q.p95, p99: q.p99, max: q.max },
      orders_per_s_target: cfg.ordersPerSecond,
      orders_sent: total.orders_sent,
      orders_filled: total.orders_filled,
      orders_rejected: total.orders_rejected,
      orders_unresolved: total.orders_unresolved,
      order_http_errors: total.order_http_errors,
      trade_events_matched: orderLatency.n,
      trade_events_missing: total.trade_events_missing,
      order_latency_ms: orderLatency,
      order_http_ms: orderHttp,
      portfolio_events: total.portfolio_events,
      generator_cpu_pct: (100 * (workerCpu + primaryCpuS)) / steadyS,
      generator_eld_p99_ms: Math.max(...replies.map((r) => r.eld_p99_ms)),
      generator_eld_max_ms: Math.max(...replies.map((r) => r.eld_max_ms)),
    },
  });
  await sleep(500);
  process.exit(0);
}

main().catch((err) => {
  log('failed:', err?.stack ?? err);
  process.exit(2);
});
