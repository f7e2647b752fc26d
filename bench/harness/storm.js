// The reconnection storm: N sockets lose their transport at once and all come back, while
// bystander sockets that never drop and a /healthz poller watch what the server does for
// everyone else meanwhile.
//
//   node storm.js '<config JSON>'      (bench/storm.py builds the config; see DEFAULTS below)
//
// stdout carries JSON lines only: {"phase": ...} as the run moves on (bench/storm.py samples the
// server's CPU and memory at each), then one {"result": {...}}. Progress notes go to stderr.
//
// Phases: idle (users logged in, no sockets) -> connected (every socket connected and
// subscribed; the baseline starts) -> storm_start (every storm socket's transport dropped) ->
// storm_end (every one connected again, or the storm deadline) -> after_end -> result.
//
// Processes: the primary holds the bystanders (B sockets of their own user, subscribed to
// quotes: quote latency is arrival minus the quote's `ts`) and polls GET /healthz every 50 ms;
// `node:cluster` workers hold the N storm sockets (lean.js), so the observers' event loop is
// not the one busy with 10,000 reconnects.
//
// Reconnecting is socket.io-client 4.7.5's default: after the drop, attempt k waits
// reconnectionDelay * 2^k (1 s, 2 s, 4 s, ... at most reconnectionDelayMax 5 s), randomized by
// +-50 % (its back-off, reproduced below), and the CONNECT's auth carries `{pid, offset}` next to
// `sessionId`, so the server can recover the socket. One difference: a handshake refused with 503
// waits max(back-off, Retry-After) (a browser cannot read the status of a failed WebSocket
// handshake; a client that can should honour it). Sockets that come back with a new sid were not
// recovered: they subscribe again, as a client must. The initial connect honours Retry-After too:
// a worker that gets a 503 starts no handshake until Retry-After has passed.

import cluster from 'node:cluster';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { request } from './http.js';
import { LeanSocket } from './lean.js';
import { Histogram, mergeCounts, sample, seededRandom, summarize } from './stats.js';

const DEFAULTS = {
  url: 'http://127.0.0.1:8000',
  clients: 300, // storm sockets
  users: 6, // their users, one session each: `clients / users` sockets share a session
  symbolsPerClient: 10,
  bystanders: 20, // sockets that never drop, on a user of their own
  bystanderSymbols: 50, // each watches this many symbols (at most every symbol)
  workers: 1,
  connectConcurrency: 64, // initial handshakes in flight, all workers together
  connectTimeoutS: 20, // one attempt (socket.io-client's `timeout`)
  setupDeadlineS: 150, // registering and logging in the users (an argon2 hash each)
  connectDeadlineS: 60, // the initial connect and subscribe
  baselineS: 5, // before the drop
  stormDeadlineS: 75, // from the drop
  afterS: 3, // after every socket is back
  healthEveryMs: 50,
  healthTimeoutMs: 5000,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  randomizationFactor: 0.5,
  seed: 1,
  userPrefix: 'storm',
  password: 'bench-password',
  setupConcurrency: 4,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...args) => console.error(`[storm ${new Date().toISOString()}]`, ...args);
const bump = (obj, key) => {
  obj[key] = (obj[key] ?? 0) + 1;
};
const reasonOf = (err) => String(err?.message ?? err).slice(0, 80);

/** socket.io-client's back-off (its `Backoff`, from backo2): `min * 2^attempts`, then +- up to
 * `jitter` of it (down on an even tenth of the random draw, up on an odd one), capped at `max`. */
class Backoff {
  constructor({ min, max, jitter }) {
    this.min = min;
    this.max = max;
    this.jitter = jitter;
    this.attempts = 0;
  }

  duration() {
    let ms = this.min * 2 ** this.attempts++;
    if (this.jitter) {
      const rand = Math.random();
      const deviation = Math.floor(rand * this.jitter * ms);
      ms = (Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation;
    }
    return Math.min(ms, this.max) | 0;
  }

  reset() {
    this.attempts = 0;
  }
}

/** One handshake: resolves {socket} on the CONNECT reply, or {socket, err} (err.status and
 * err.retryAfterS for a handshake refused over HTTP). `listen(socket)` adds event handlers
 * before any packet can arrive. */
function attempt(url, auth, timeoutS, listen) {
  return new Promise((resolve) => {
    const socket = new LeanSocket(url, { auth, timeout: timeoutS * 1000 });
    listen?.(socket);
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (err) => resolve({ socket, err }));
  });
}

/** `subscribe:watchlist`: null once acknowledged (`onQuotes` gets the ack's latest quotes), else
 * why not. */
function subscribe(socket, symbols, timeoutS, onQuotes) {
  return new Promise((resolve) => {
    socket.timeout(timeoutS * 1000).emit('subscribe:watchlist', { symbols }, (err, ack) => {
      if (!err && ack?.ok) {
        onQuotes?.(ack.quotes ?? []);
        resolve(null);
      } else resolve(err ? reasonOf(err) : String(ack?.error?.code ?? 'bad ack'));
    });
  });
}

/** Connect with `auth` until connected or past `deadline` (epoch ms). A 503 closes `gate` (an
 * object shared by the caller's connects: no handshake starts before `gate.notBefore`) for its
 * Retry-After; another error waits a second. `counts` gets attempts, refusals and errors. */
async function connectHonouringRetryAfter(url, auth, cfg, gate, deadline, counts, listen) {
  for (;;) {
    const wait = gate.notBefore - Date.now();
    if (wait > 0) await sleep(wait);
    if (Date.now() > deadline) return null;
    counts.attempts += 1;
    const { socket, err } = await attempt(url, auth, cfg.connectTimeoutS, listen);
    if (!err) return socket;
    if (err.status === 503) {
      counts.refused_503 += 1;
      const until = Date.now() + (err.retryAfterS ?? 1) * 1000;
      if (until > gate.notBefore) gate.notBefore = until;
    } else {
      counts.errors += 1;
      bump(counts.error_reasons, reasonOf(err));
      await sleep(1000);
    }
  }
}

function newConnectCounts() {
  return { attempts: 0, refused_503: 0, errors: 0, error_reasons: {} };
}

// ------------------------------------------------------------------ worker: the storm sockets

function runWorker() {
  let cfg;
  let url;
  const clients = []; // {idx, sessionId, symbols, socket, state, sid, pid, offset, ...}
  const initial = {
    ...newConnectCounts(),
    connected: 0,
    not_connected: 0,
    subscribed: 0,
    subscribe_errors: 0,
    subscribe_error_reasons: {},
  };
  const storm = {
    attempts: 0,
    refused_503: 0,
    retry_after_s: {}, // Retry-After value -> refusals with it
    other_errors: 0,
    other_error_reasons: {},
    back: 0,
    recovered: 0,
    not_recovered: 0,
    resubscribed: 0,
    resubscribe_errors: 0,
    resubscribe_error_reasons: {},
    quoted_after_back: 0, // storm sockets that got a quote after coming back
    max_attempts: 0, // by one socket
  };
  const unexpected = { disconnects: 0, disconnect_reasons: {} };
  const reconnectMs = new Histogram();
  // per second since the drop: attempts started, refused with 503, sockets back
  const perSecond = { attempts: [], refused_503: [], back: [] };
  const countSecond = (list, c) => {
    const i = Math.floor((Date.now() - c.droppedAt) / 1000);
    list[i] = (list[i] ?? 0) + 1;
  };
  const eld = monitorEventLoopDelay({ resolution: 10 });
  let stormCpu0 = null;
  let stormCpu = null;
  let stormWall0 = 0;
  let stormWall = 0;
  let collecting = false;
  let dropped = 0; // storm sockets whose transport was dropped

  // `again`: a socket of the storm's reconnects; the quotes a recovered socket gets at once
  // (the latest of each of its symbols) arrive before its attempt's promise settles
  const listen = (c, again = false) => (socket) => {
    socket.on('disconnect', (reason) => {
      if (collecting || socket !== c.socket || c.state !== 'up') return;
      c.state = 'lost';
      unexpected.disconnects += 1;
      bump(unexpected.disconnect_reasons, reason);
    });
    socket.on('quote:update', () => {
      if (again && !c.quotedAfterBack) {
        c.quotedAfterBack = true;
        storm.quoted_after_back += 1;
      }
    });
  };

  async function connectAll(concurrency, deadline) {
    const gate = { notBefore: 0 };
    let next = 0;
    const runner = async () => {
      while (next < clients.length) {
        const c = clients[next++];
        const socket = await connectHonouringRetryAfter(
          url,
          { sessionId: c.sessionId },
          cfg,
          gate,
          deadline,
          initial,
          listen(c),
        );
        if (!socket) {
          initial.not_connected += 1;
          continue;
        }
        c.socket = socket;
        c.state = 'up';
        c.sid = socket.id;
        initial.connected += 1;
        const failed = await subscribe(socket, c.symbols, cfg.connectTimeoutS);
        if (failed === null) initial.subscribed += 1;
        else {
          initial.subscribe_errors += 1;
          bump(initial.subscribe_error_reasons, failed);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runner));
  }

  function drop() {
    const at = Date.now();
    stormCpu0 = process.cpuUsage();
    stormWall0 = performance.now();
    eld.reset();
    eld.enable();
    for (const c of clients) {
      if (c.state !== 'up') continue;
      c.state = 'down';
      c.droppedAt = at;
      c.oldSid = c.socket.id;
      c.pid = c.socket.pid;
      c.offset = c.socket.lastOffset;
      c.backoff.reset();
      c.socket.terminate();
      dropped += 1;
    }
    // socket.io-client schedules its first attempt after one back-off, not at once
    for (const c of clients) if (c.state === 'down') schedule(c, c.backoff.duration());
  }

  function schedule(c, delay) {
    c.timer = setTimeout(() => reconnect(c), delay);
  }

  async function reconnect(c) {
    if (collecting) return;
    storm.attempts += 1;
    countSecond(perSecond.attempts, c);
    c.attempts += 1;
    if (c.attempts > storm.max_attempts) storm.max_attempts = c.attempts;
    const auth = { sessionId: c.sessionId };
    if (c.pid !== undefined) {
      auth.pid = c.pid;
      if (c.offset !== undefined) auth.offset = c.offset;
    }
    const { socket, err } = await attempt(url, auth, cfg.connectTimeoutS, listen(c, true));
    if (collecting) {
      socket.close();
      return;
    }
    if (err) {
      let delay = c.backoff.duration();
      if (err.status === 503) {
        storm.refused_503 += 1;
        countSecond(perSecond.refused_503, c);
        bump(storm.retry_after_s, String(err.retryAfterS));
        delay = Math.max(delay, (err.retryAfterS ?? 0) * 1000);
      } else {
        storm.other_errors += 1;
        bump(storm.other_error_reasons, reasonOf(err));
      }
      schedule(c, delay);
      return;
    }
    c.socket = socket;
    c.state = 'up';
    c.backAt = Date.now();
    reconnectMs.record(c.backAt - c.droppedAt);
    storm.back += 1;
    countSecond(perSecond.back, c);
    if (socket.id === c.oldSid) storm.recovered += 1;
    else storm.not_recovered += 1;
    if (storm.back === dropped) {
      stormCpu = process.cpuUsage(stormCpu0);
      stormWall = performance.now() - stormWall0;
      eld.disable();
      process.send({ type: 'back', at: c.backAt });
    }
    if (socket.id !== c.oldSid) {
      // a new socket has no subscriptions: subscribe again, as a client must
      const failed = await subscribe(socket, c.symbols, cfg.connectTimeoutS);
      if (failed === null) storm.resubscribed += 1;
      else {
        storm.resubscribe_errors += 1;
        bump(storm.resubscribe_error_reasons, failed);
      }
    }
  }

  function stats() {
    if (!stormCpu && stormCpu0) {
      stormCpu = process.cpuUsage(stormCpu0);
      stormWall = performance.now() - stormWall0;
      eld.disable();
    }
    return {
      initial,
      storm: { ...storm, dropped, not_back: dropped - storm.back },
      unexpected,
      reconnect_ms: reconnectMs.toSparse(),
      per_second: {
        attempts: Array.from(perSecond.attempts, (v) => v ?? 0),
        refused_503: Array.from(perSecond.refused_503, (v) => v ?? 0),
        back: Array.from(perSecond.back, (v) => v ?? 0),
      },
      storm_cpu_s: stormCpu ? (stormCpu.user + stormCpu.system) / 1e6 : 0,
      storm_wall_s: stormWall / 1000,
      eld_p99_ms: stormCpu0 ? eld.percentile(99) / 1e6 : null,
      eld_max_ms: stormCpu0 ? eld.max / 1e6 : null,
    };
  }

  process.on('message', async (msg) => {
    switch (msg.type) {
      case 'init':
        cfg = msg.cfg;
        url = msg.cfg.url;
        for (const c of msg.clients) {
          clients.push({
            ...c,
            socket: null,
            state: 'new',
            attempts: 0,
            backoff: new Backoff({
              min: cfg.reconnectionDelay,
              max: cfg.reconnectionDelayMax,
              jitter: cfg.randomizationFactor,
            }),
          });
        }
        process.send({ type: 'ready' });
        break;
      case 'connect':
        await connectAll(msg.concurrency, msg.deadline);
        process.send({ type: 'connected', initial });
        break;
      case 'drop':
        drop();
        if (dropped === 0) process.send({ type: 'back', at: Date.now() });
        break;
      case 'collect':
        collecting = true;
        for (const c of clients) clearTimeout(c.timer);
        process.send({ type: 'stats', stats: stats() });
        break;
      case 'close':
        collecting = true;
        for (const c of clients) c.socket?.close();
        setTimeout(() => process.exit(0), 200);
        break;
      default:
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'hello' });
}

// ------------------------------------------------------------------ primary: the observers

async function setupUsers(cfg, names) {
  const started = Date.now();
  let next = 0;
  const runner = async (fn) => {
    while (next < names.length) await fn(names[next++]);
  };
  const pool = (fn) =>
    Promise.all(Array.from({ length: cfg.setupConcurrency }, () => runner(fn))).then(() => {
      next = 0;
    });
  await pool(async (username) => {
    const res = await request(cfg.url, 'POST', '/api/auth/register', {
      body: { username, password: cfg.password },
      timeoutMs: 120000,
    });
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`register ${username}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
  });
  const registered = Date.now();
  const sessions = new Map();
  await pool(async (username) => {
    const res = await request(cfg.url, 'POST', '/api/auth/login', {
      body: { username, password: cfg.password },
      timeoutMs: 120000,
    });
    if (res.status !== 200) {
      throw new Error(`login ${username}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
    sessions.set(username, res.json.sessionId);
  });
  return {
    sessions,
    register_s: (registered - started) / 1000,
    login_s: (Date.now() - registered) / 1000,
  };
}

/** What the observers saw in one stretch of the run: connect, before, during, after. */
class Window {
  constructor(name, symbols) {
    this.name = name;
    this.startedAt = Date.now();
    this.endedAt = null;
    this.health = []; // ms of each answered GET /healthz
    this.healthFailures = 0;
    this.healthFailureReasons = {};
    this.quotes = 0;
    this.quoteLatency = new Histogram();
    this.seqAtStart = null; // per symbol: the newest seq the bystanders had seen
    this.seqAtEnd = null;
    this.symbols = symbols;
  }

  summary() {
    const seconds = ((this.endedAt ?? Date.now()) - this.startedAt) / 1000;
    const h = summarize(this.health);
    const q = this.quoteLatency.summary();
    let ticks = null; // the feed's ticks of the watched symbols (unknown before any quote)
    if (this.seqAtStart && this.seqAtEnd) {
      ticks = 0;
      for (let i = 0; i < this.symbols; i++) ticks += this.seqAtEnd[i] - this.seqAtStart[i];
    }
    return {
      seconds,
      healthz: {
        answered: h.n,
        failures: this.healthFailures,
        failure_reasons: this.healthFailureReasons,
        ms: { p50: h.p50, p95: h.p95, p99: h.p99, max: h.max },
      },
      bystander_quotes: this.quotes,
      bystander_quotes_per_s: seconds > 0 ? this.quotes / seconds : null,
      feed_ticks_per_s: seconds > 0 && ticks !== null ? ticks / seconds : null,
      bystander_quote_latency_ms: { p50: q.p50, p95: q.p95, p99: q.p99, max: q.max },
    };
  }
}

class Workers {
  constructor(count) {
    cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), silent: false });
    this.list = Array.from({ length: count }, () => cluster.fork());
    this.waiters = new Map();
    this.onBack = null;
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
    if (msg.type === 'back') this.onBack?.(msg);
    const waiter = this.waiters.get(msg.type);
    if (waiter) waiter.got.set(w.id, msg);
    if (waiter && waiter.got.size === this.list.length) {
      this.waiters.delete(msg.type);
      clearTimeout(waiter.timer);
      waiter.resolve([...waiter.got.values()]);
    }
  }

  /** Wait for `type` from every worker; past `timeoutMs` (0: never) resolve with what came. */
  waitAll(type, timeoutMs = 0) {
    return new Promise((resolve) => {
      const waiter = { got: new Map(), resolve, timer: null };
      this.waiters.set(type, waiter);
      if (timeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          if (this.waiters.get(type) === waiter) {
            this.waiters.delete(type);
            resolve([...waiter.got.values()]);
          }
        }, timeoutMs);
      }
    });
  }

  send(msgFor) {
    this.list.forEach((w, i) => w.send(typeof msgFor === 'function' ? msgFor(i) : msgFor));
  }
}

function sumInto(total, part) {
  for (const [k, v] of Object.entries(part)) {
    if (typeof v === 'number') {
      total[k] = k.startsWith('max_') ? Math.max(total[k] ?? 0, v) : (total[k] ?? 0) + v;
    } else if (v && typeof v === 'object') total[k] = mergeCounts(total[k] ?? {}, v);
  }
  return total;
}

/** Seconds after which the whole run gives up: every phase's deadline, and some slack. */
function runBoundS(cfg) {
  const phases = cfg.setupDeadlineS + cfg.connectDeadlineS + cfg.stormDeadlineS;
  return phases + cfg.baselineS + cfg.afterS + 30;
}

/** `promise`, or a rejection once `ms` passed first. */
function withDeadline(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function runPrimary() {
  const cfg = { ...DEFAULTS, ...JSON.parse(process.argv[2] ?? '{}') };
  const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  const phase = (name, extra = {}) => emit({ phase: name, t: Date.now() / 1000, ...extra });
  const runDeadline = setTimeout(() => {
    log('run deadline passed: giving up');
    process.exit(4);
  }, runBoundS(cfg) * 1000);
  runDeadline.unref();

  const symbolList = (await request(cfg.url, 'GET', '/api/symbols')).json.map((s) => s.symbol);
  const users = Array.from(
    { length: cfg.users },
    (_, i) => `${cfg.userPrefix}${String(i).padStart(5, '0')}`,
  );
  const bystanderUser = `${cfg.userPrefix}-bystanders`;
  log(`setting up ${cfg.users} users and the bystanders' user`);
  const setup = await withDeadline(
    setupUsers(cfg, [bystanderUser, ...users]),
    cfg.setupDeadlineS * 1000,
    'users set up',
  );
  phase('idle', { users: users.length });

  // The observers. `current` is the window that their readings go to.
  let current = new Window('connect', symbolList.length);
  const windows = [current];
  const newestSeq = new Array(symbolList.length).fill(0);
  const symIndex = new Map(symbolList.map((s, i) => [s, i]));
  const openWindow = (name) => {
    current.endedAt = Date.now();
    current.seqAtEnd = newestSeq.slice();
    current = new Window(name, symbolList.length);
    current.seqAtStart = newestSeq.slice();
    windows.push(current);
  };
  // per second since the drop (the storm only): the worst /healthz and bystander quote
  let droppedAt = null;
  const stormSeconds = [];
  const stormSecond = () => {
    if (current.name !== 'during') return null;
    const i = Math.floor((Date.now() - droppedAt) / 1000);
    stormSeconds[i] ??= { healthz_answered: 0, healthz_max_ms: null, quote_max_ms: null };
    return stormSeconds[i];
  };
  const primaryEld = monitorEventLoopDelay({ resolution: 10 });
  primaryEld.enable();

  let polling = true;
  const healthLoop = (async () => {
    while (polling) {
      const started = performance.now();
      const window = current;
      try {
        const res = await request(cfg.url, 'GET', '/healthz', { timeoutMs: cfg.healthTimeoutMs });
        if (res.status === 200) {
          const ms = performance.now() - started;
          window.health.push(ms);
          const second = stormSecond();
          if (second) {
            second.healthz_answered += 1;
            second.healthz_max_ms = Math.max(second.healthz_max_ms ?? 0, Math.round(ms * 10) / 10);
          }
        } else {
          window.healthFailures += 1;
          bump(window.healthFailureReasons, `HTTP ${res.status}`);
        }
      } catch (err) {
        window.healthFailures += 1;
        bump(window.healthFailureReasons, reasonOf(err));
      }
      await sleep(Math.max(0, cfg.healthEveryMs - (performance.now() - started)));
    }
  })();

  const bystanderSymbols = symbolList.slice(0, Math.min(cfg.bystanderSymbols, symbolList.length));
  const bystander = {
    ...newConnectCounts(),
    connected: 0,
    subscribed: 0,
    subscribe_errors: 0,
    subscribe_error_reasons: {},
    disconnects: 0,
    disconnect_reasons: {},
  };
  const bystanders = [];
  let closing = false;
  const noteSeq = (q) => {
    const i = symIndex.get(q.symbol);
    if (i !== undefined && q.seq > newestSeq[i]) newestSeq[i] = q.seq;
  };
  const onBystanderSocket = (socket) => {
    socket.on('quote:update', (q) => {
      noteSeq(q);
      current.quotes += 1;
      const ms = Date.now() - q.ts;
      current.quoteLatency.record(ms);
      const second = stormSecond();
      if (second) second.quote_max_ms = Math.max(second.quote_max_ms ?? 0, ms);
    });
    socket.on('disconnect', (reason) => {
      if (closing) return;
      bystander.disconnects += 1;
      bump(bystander.disconnect_reasons, reason);
    });
  };
  const connectStarted = Date.now();
  const connectDeadline = connectStarted + cfg.connectDeadlineS * 1000;
  const bystanderGate = { notBefore: 0 };
  for (let i = 0; i < cfg.bystanders; i++) {
    const socket = await connectHonouringRetryAfter(
      cfg.url,
      { sessionId: setup.sessions.get(bystanderUser) },
      cfg,
      bystanderGate,
      connectDeadline,
      bystander,
      onBystanderSocket,
    );
    if (!socket) continue;
    bystander.connected += 1;
    bystanders.push(socket);
    const failed = await subscribe(socket, bystanderSymbols, cfg.connectTimeoutS, (quotes) =>
      quotes.forEach(noteSeq),
    );
    if (failed === null) bystander.subscribed += 1;
    else {
      bystander.subscribe_errors += 1;
      bump(bystander.subscribe_error_reasons, failed);
    }
  }

  // The storm sockets, round-robin over the users; a user's sockets share its one session.
  const W = Math.max(1, Math.min(cfg.workers, cfg.clients));
  const perWorker = Array.from({ length: W }, () => []);
  for (let idx = 0; idx < cfg.clients; idx++) {
    const rand = seededRandom(cfg.seed * 1_000_003 + idx);
    perWorker[idx % W].push({
      idx,
      sessionId: setup.sessions.get(users[idx % users.length]),
      symbols: sample(symbolList, Math.min(cfg.symbolsPerClient, symbolList.length), rand),
    });
  }
  const workers = new Workers(W);
  await workers.hello;
  const ready = workers.waitAll('ready');
  workers.send((i) => ({ type: 'init', cfg, clients: perWorker[i] }));
  await ready;
  log(`connecting ${cfg.clients} storm sockets in ${W} workers (${bystanders.length} bystanders)`);
  const connectedWait = workers.waitAll('connected');
  workers.send({
    type: 'connect',
    concurrency: Math.ceil(cfg.connectConcurrency / W),
    deadline: connectDeadline,
  });
  const initial = (await connectedWait).reduce((t, r) => sumInto(t, r.initial), {});
  const connectS = (Date.now() - connectStarted) / 1000;
  openWindow('before');
  phase('connected', { connected: initial.connected, refused_503: initial.refused_503 });
  log(`connected ${initial.connected} (${initial.refused_503} refused with 503); baseline`);

  await sleep(cfg.baselineS * 1000);
  let lastBackAt = null;
  let backCount = 0;
  const allBack = new Promise((resolve) => {
    workers.onBack = (msg) => {
      backCount += 1;
      if (lastBackAt === null || msg.at > lastBackAt) lastBackAt = msg.at;
      if (backCount === W) resolve();
    };
  });
  openWindow('during');
  droppedAt = Date.now();
  workers.send({ type: 'drop' });
  phase('storm_start');
  log(`dropped every storm socket's transport; waiting for them (at most ${cfg.stormDeadlineS} s)`);
  const stormDeadline = sleep(cfg.stormDeadlineS * 1000).then(() => 'deadline');
  const stormEnd = await Promise.race([allBack.then(() => 'back'), stormDeadline]);
  openWindow('after');
  phase('storm_end', { outcome: stormEnd });
  await sleep(cfg.afterS * 1000);
  current.endedAt = Date.now();
  current.seqAtEnd = newestSeq.slice();
  phase('after_end');
  polling = false;
  await healthLoop;
  primaryEld.disable();

  const statsWait = workers.waitAll('stats', 15000);
  workers.send({ type: 'collect' });
  const replies = (await statsWait).map((r) => r.stats);
  workers.closing = true;
  closing = true;
  workers.send({ type: 'close' });
  for (const s of bystanders) s.close();

  const storm = replies.reduce((t, r) => sumInto(t, r.storm), {});
  const unexpected = replies.reduce((t, r) => sumInto(t, r.unexpected), {});
  const reconnect = new Histogram();
  for (const r of replies) reconnect.addSparse(r.reconnect_ms);
  const rc = reconnect.summary();
  const stormWallS = Math.max(...replies.map((r) => r.storm_wall_s));
  const stormCpuS = replies.reduce((a, r) => a + r.storm_cpu_s, 0);
  const recoveryS =
    lastBackAt !== null && stormEnd === 'back' ? (lastBackAt - droppedAt) / 1000 : null;
  const byName = Object.fromEntries(windows.map((w) => [w.name, w.summary()]));
  const sumSeconds = (key) => {
    const total = [];
    for (const r of replies) r.per_second[key].forEach((v, i) => (total[i] = (total[i] ?? 0) + v));
    return total;
  };
  const [attempts, refused, back] = ['attempts', 'refused_503', 'back'].map(sumSeconds);
  const seconds = Math.max(attempts.length, back.length, stormSeconds.length);
  const timeline = Array.from({ length: seconds }, (_, i) => ({
    s: i,
    attempts: attempts[i] ?? 0,
    refused_503: refused[i] ?? 0,
    back: back[i] ?? 0,
    healthz_answered: stormSeconds[i]?.healthz_answered ?? 0,
    healthz_max_ms: stormSeconds[i]?.healthz_max_ms ?? null,
    bystander_quote_max_ms: stormSeconds[i]?.quote_max_ms ?? null,
  }));

  emit({
    result: {
      clients: cfg.clients,
      users: users.length,
      sockets_per_session: Math.ceil(cfg.clients / users.length),
      symbols: symbolList.length,
      symbols_per_client: cfg.symbolsPerClient,
      bystanders: cfg.bystanders,
      bystander_symbols: bystanderSymbols.length,
      workers: W,
      setup_register_s: setup.register_s,
      setup_login_s: setup.login_s,
      initial_connect_s: connectS,
      initial: { ...initial, bystanders: bystander.connected },
      storm_outcome: stormEnd,
      storm_recovery_s: recoveryS,
      reconnect_ms: { n: rc.n, p50: rc.p50, p95: rc.p95, p99: rc.p99, max: rc.max },
      storm,
      storm_timeline: timeline,
      storm_socket_disconnects: unexpected.disconnects ?? 0,
      storm_socket_disconnect_reasons: unexpected.disconnect_reasons ?? {},
      bystanders_connected: bystander.connected,
      bystanders_subscribed: bystander.subscribed,
      bystander_subscribe_errors: bystander.subscribe_error_reasons,
      bystander_disconnects: bystander.disconnects,
      bystander_disconnect_reasons: bystander.disconnect_reasons,
      windows: byName,
      generator_storm_cpu_pct: stormWallS > 0 ? (100 * stormCpuS) / stormWallS : null,
      generator_storm_eld_p99_ms: Math.max(...replies.map((r) => r.eld_p99_ms ?? 0)),
      generator_storm_eld_max_ms: Math.max(...replies.map((r) => r.eld_max_ms ?? 0)),
      observer_eld_p99_ms: primaryEld.percentile(99) / 1e6,
      observer_eld_max_ms: primaryEld.max / 1e6,
      config: cfg,
    },
  });
  await sleep(300);
  process.exit(0);
}

if (cluster.isPrimary) {
  runPrimary().catch((err) => {
    log('failed:', err?.stack ?? err);
    process.exit(2);
  });
} else {
  runWorker();
}
