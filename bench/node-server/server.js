// Comparison server for the benchmarks: Node + socket.io 4.7.5 with tradewire's real-time
// events, so the same load harness can measure both stacks in the same run.
//
// A transport reference, not a trading system: users, sessions, cash and positions live in
// memory, passwords are compared as SHA-256 (no slow hash), there is no database, no rate limit
// and no persistence. What it does the same way as tradewire:
//   REST   POST /api/auth/register {username, password} -> 201 {userId, username, role}
//          POST /api/auth/login    {username, password} -> {sessionId, userId, expiresAt}
//          POST /api/orders (Authorization: Bearer <sessionId>) {symbol, side, quantity}
//               -> 201 the order (a market order fills at once at the ask/bid)
//          GET  /api/symbols, GET /api/quotes, GET /healthz
//   Socket.IO handshake `auth: {sessionId}`; refused with "unauthorized" {code: UNAUTHORIZED}.
//          rooms user:{id}, session:{key}, quote:{SYMBOL}
//          subscribe:watchlist {symbols, batch?} -> ack {ok, quotes}; then `quote:update` per
//          quote, or (batch) `quotes:update` {quotes} flushed every 50 ms, latest per symbol.
//          a fill emits `trade:executed` and `portfolio:update` to the user's room.
//
// Settings (env): PORT (default 8100), HOST (127.0.0.1), MARKET_TICK_RATE (1),
// MARKET_SEED (1), BENCH_SYMBOLS (a JSON list of {symbol, name, basePrice, volatility};
// default 50 made-up symbols), STARTING_CASH (100000).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { SimulatedFeed } from './feed.js';

const PORT = Number(process.env.PORT ?? 8100);
const HOST = process.env.HOST ?? '127.0.0.1';
const TICK_RATE = Number(process.env.MARKET_TICK_RATE ?? 1);
const SEED = Number(process.env.MARKET_SEED ?? 1);
const STARTING_CASH_CENTS = Math.round(Number(process.env.STARTING_CASH ?? 100000) * 100);
const SESSION_TTL_MS = 86_400_000;
const QUOTE_BATCH_INTERVAL_MS = 50;
const MAX_SYMBOLS_PER_SOCKET = 50;

const SYMBOLS = process.env.BENCH_SYMBOLS
  ? JSON.parse(process.env.BENCH_SYMBOLS)
  : Array.from({ length: 50 }, (_, i) => ({
      symbol: `SYM${i}`,
      name: `Symbol ${i}`,
      basePrice: 50 + i * 7,
      volatility: 0.3,
    }));
const KNOWN = new Set(SYMBOLS.map((s) => s.symbol));

// ------------------------------------------------------------------ in-memory state

const users = new Map(); // username -> {id, username, passwordHash, cashCents, positions}
const usersById = new Map(); // id -> user
const sessions = new Map(); // token -> {key, user, expiresAt}
let nextUserId = 1;
let nextOrderId = 1;
let nextTradeId = 1;

const sha256 = (text) => createHash('sha256').update(text).digest();
const money = (c) => (c / 100).toFixed(2);
const priceCents = (s) => Math.round(Number(s) * 100);

function error(code, message) {
  return { error: { code, message } };
}

function portfolioOf(user) {
  const positions = [];
  let valueCents = 0;
  let pnlCents = 0;
  for (const [symbol, p] of user.positions) {
    const last = priceCents(feed.latest.get(symbol).last);
    const value = last * p.quantity;
    const pnl = value - p.costCents;
    valueCents += value;
    pnlCents += pnl;
    positions.push({
      symbol,
      quantity: p.quantity,
      avgCost: money(Math.round(p.costCents / p.quantity)),
      last: money(last),
      marketValue: money(value),
      unrealizedPnl: money(pnl),
    });
  }
  return {
    userId: user.id,
    cash: money(user.cashCents),
    positions,
    positionsValue: money(valueCents),
    totalValue: money(user.cashCents + valueCents),
    unrealizedPnl: money(pnlCents),
    asOf: new Date().toISOString(),
  };
}

function placeOrder(user, body) {
  const symbol = String(body.symbol ?? '').toUpperCase();
  const side = body.side;
  const quantity = Number(body.quantity);
  if (!['buy', 'sell'].includes(side) || !Number.isInteger(quantity)) {
    return [422, error('VALIDATION_ERROR', 'side must be buy or sell; quantity an integer')];
  }
  const now = new Date().toISOString();
  const order = {
    orderId: nextOrderId++,
    symbol,
    side,
    type: 'market',
    quantity,
    limitPrice: null,
    status: 'filled',
    rejectReason: null,
    fillPrice: null,
    createdAt: now,
    updatedAt: now,
  };
  const quote = feed.latest.get(symbol);
  const position = user.positions.get(symbol);
  const price = quote ? priceCents(side === 'buy' ? quote.ask : quote.bid) : 0;
  let reject = null;
  if (!quote) reject = 'UNKNOWN_SYMBOL';
  else if (quantity <= 0 || quantity > 1_000_000) reject = 'INVALID_QUANTITY';
  else if (side === 'buy' && user.cashCents < price * quantity) reject = 'INSUFFICIENT_CASH';
  else if (side === 'sell' && (!position || position.quantity < quantity))
    reject = 'INSUFFICIENT_SHARES';
  if (reject) {
    order.status = 'rejected';
    order.rejectReason = reject;
    io.to(`user:${user.id}`).emit('trade:failed', {
      order,
      reason: reject,
      message: 'Order rejected.',
    });
    return [201, order];
  }
  const total = price * quantity;
  if (side === 'buy') {
    user.cashCents -= total;
    const p = position ?? { quantity: 0, costCents: 0 };
    p.quantity += quantity;
    p.costCents += total;
    user.positions.set(symbol, p);
  } else {
    user.cashCents += total;
    position.costCents -= Math.round((position.costCents * quantity) / position.quantity);
    position.quantity -= quantity;
    if (position.quantity === 0) user.positions.delete(symbol);
  }
  order.fillPrice = money(price);
  const trade = {
    tradeId: nextTradeId++,
    orderId: order.orderId,
    symbol,
    side,
    quantity,
    price: money(price),
    total: money(total),
    executedAt: now,
  };
  const room = io.to(`user:${user.id}`);
  room.emit('trade:executed', trade);
  room.emit('portfolio:update', portfolioOf(user));
  return [201, order];
}

// ------------------------------------------------------------------ REST

function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || 'null'));
      } catch {
        resolve(undefined);
      }
    });
  });
}

function sessionOf(req) {
  const header = req.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : null;
  const s = token && sessions.get(token);
  return s && s.expiresAt > Date.now() ? s : null;
}

async function handle(req, res) {
  const send = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const url = new URL(req.url, 'http://x');
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /healthz') return send(200, { status: 'ok' });
  if (route === 'GET /api/symbols')
    return send(
      200,
      SYMBOLS.map((s) => ({ symbol: s.symbol, name: s.name })),
    );
  if (route === 'GET /api/quotes')
    return send(
      200,
      [...feed.latest.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : 1)),
    );
  if (route === 'POST /api/auth/register' || route === 'POST /api/auth/login') {
    const body = await readJson(req);
    const username = String(body?.username ?? '').toLowerCase();
    const password = String(body?.password ?? '');
    if (!username || password.length < 8)
      return send(422, error('VALIDATION_ERROR', 'username and password (8+) required'));
    if (route === 'POST /api/auth/register') {
      if (users.has(username)) return send(409, error('USERNAME_TAKEN', 'That username is taken.'));
      const user = {
        id: nextUserId++,
        username,
        passwordHash: sha256(password),
        cashCents: STARTING_CASH_CENTS,
        positions: new Map(),
      };
      users.set(username, user);
      usersById.set(user.id, user);
      return send(201, { userId: user.id, username, role: 'user' });
    }
    const user = users.get(username);
    if (!user || !timingSafeEqual(user.passwordHash, sha256(password)))
      return send(401, error('INVALID_CREDENTIALS', 'Wrong username or password.'));
    const token = randomBytes(32).toString('base64url');
    const expiresAt = Date.now() + SESSION_TTL_MS;
    sessions.set(token, { key: sha256(token).toString('hex'), user, expiresAt });
    return send(200, {
      sessionId: token,
      userId: user.id,
      expiresAt: new Date(expiresAt).toISOString(),
    });
  }
  if (route === 'POST /api/orders') {
    const session = sessionOf(req);
    if (!session) return send(401, error('UNAUTHORIZED', 'Log in first.'));
    const body = await readJson(req);
    if (!body || typeof body !== 'object') return send(422, error('VALIDATION_ERROR', 'JSON body'));
    const [status, out] = placeOrder(session.user, body);
    return send(status, out);
  }
  return send(404, error('NOT_FOUND', 'Not found.'));
}

// ------------------------------------------------------------------ Socket.IO

const http = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('request failed', err);
    res.destroy();
  });
});

const io = new Server(http, {
  path: '/socket.io',
  serveClient: false,
  pingInterval: 20000,
  pingTimeout: 20000,
  maxHttpBufferSize: 64 * 1024,
  cors: { origin: true, credentials: true },
});

const batchSockets = new Map(); // socket id -> {socket, symbols: Set}
let pendingBatch = new Map(); // symbol -> latest quote since the last flush

io.use((socket, next) => {
  const token = socket.handshake.auth?.sessionId;
  const s = typeof token === 'string' ? sessions.get(token) : undefined;
  if (!s || s.expiresAt <= Date.now()) {
    const err = new Error('unauthorized');
    err.data = { code: 'UNAUTHORIZED' };
    return next(err);
  }
  socket.data.session = s;
  next();
});

const ok = (extra) => ({ ok: true, ...extra });
const fail = (code, message) => ({ ok: false, error: { code, message } });

io.on('connection', (socket) => {
  const { session } = socket.data;
  socket.join(`user:${session.user.id}`);
  socket.join(`session:${session.key}`);
  const state = { symbols: new Set(), batch: false };

  socket.on('subscribe:watchlist', (payload, ack) => {
    if (typeof ack !== 'function') return;
    const symbols = Array.isArray(payload?.symbols)
      ? [...new Set(payload.symbols.map((s) => String(s).trim().toUpperCase()))]
      : [];
    if (symbols.length < 1 || symbols.length > MAX_SYMBOLS_PER_SOCKET)
      return ack(fail('VALIDATION_ERROR', 'symbols: 1 to 50 tickers'));
    const unknown = symbols.filter((s) => !KNOWN.has(s));
    if (unknown.length) return ack(fail('UNKNOWN_SYMBOL', `Unknown symbol: ${unknown[0]}.`));
    const batch = Boolean(payload.batch);
    if (batch !== state.batch) {
      for (const s of state.symbols) if (!state.batch) socket.leave(`quote:${s}`);
      if (state.batch) batchSockets.delete(socket.id);
    }
    for (const s of symbols) state.symbols.add(s);
    if (state.symbols.size > MAX_SYMBOLS_PER_SOCKET)
      return ack(fail('LIMIT_EXCEEDED', 'A socket can watch at most 50 symbols.'));
    state.batch = batch;
    if (batch) batchSockets.set(socket.id, { socket, symbols: state.symbols });
    else for (const s of state.symbols) socket.join(`quote:${s}`);
    ack(ok({ quotes: symbols.map((s) => feed.latest.get(s)) }));
  });

  socket.on('unsubscribe:watchlist', (payload, ack) => {
    const symbols = Array.isArray(payload?.symbols) ? payload.symbols : [];
    for (const s of symbols) {
      state.symbols.delete(s);
      socket.leave(`quote:${s}`);
    }
    if (!state.symbols.size) batchSockets.delete(socket.id);
    if (typeof ack === 'function') ack(ok({ symbols: [...state.symbols].sort() }));
  });

  socket.on('subscribe:portfolio', (_, ack) => {
    if (typeof ack === 'function') ack(ok({ portfolio: portfolioOf(session.user) }));
  });

  socket.on('disconnect', () => batchSockets.delete(socket.id));
});

function onQuote(quote) {
  if (batchSockets.size) pendingBatch.set(quote.symbol, quote);
  io.to(`quote:${quote.symbol}`).emit('quote:update', quote);
}

setInterval(() => {
  if (!pendingBatch.size) return;
  const pending = pendingBatch;
  pendingBatch = new Map();
  for (const { socket, symbols } of batchSockets.values()) {
    const quotes = [];
    for (const s of symbols) {
      const q = pending.get(s);
      if (q) quotes.push(q);
    }
    if (quotes.length) socket.emit('quotes:update', { quotes });
  }
}, QUOTE_BATCH_INTERVAL_MS);

const feed = new SimulatedFeed(SYMBOLS, TICK_RATE, onQuote, SEED);
feed.start();

http.listen(PORT, HOST, () => {
  console.log(`node comparison server on http://${HOST}:${PORT} (${SYMBOLS.length} symbols)`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    feed.stop();
    io.close();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
