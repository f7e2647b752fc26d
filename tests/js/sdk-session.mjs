// A session of the built JS SDK (clients/js/dist, @tradewire/client) against tradewire, run
// under Node with no DOM globals, as a React Native app would: WebSocket transport only.
// For tests/realtime/test_js_sdk.py. One JSON argument:
//   { "url": "http://127.0.0.1:PORT", "username": "demo", "password": "demo-password",
//     "sessionId": "..." (skip the login and use this one), "watch": ["AAPL", "MSFT"],
//     "transports": ["websocket"], "timeoutMs": 60000 }
// It logs in, connects, subscribes portfolio, trades and the watchlist, then obeys commands on
// stdin, one JSON object per line:
//   {"cmd": "order", "symbol": "NVDA", "side": "buy", "quantity": 2}   POST /api/orders
//   {"cmd": "logout"}   client.logout(), then GET /api/me with the old session id
//   {"cmd": "quit"}                                                     close and exit 0
// Reports on stdout, one JSON object per line:
//   {"type":"globals","window":"undefined","document":"undefined"}  {"type":"login","userId":1}
//   {"type":"connect","sid":"..."}  {"type":"subscribed","cash":"...","trades":0,"quotes":["AAPL",...]}
//   {"type":"ready"}  {"type":"event","event":"quote:update","data":{...}}
//   {"type":"disconnect","reason":"io server disconnect"}  {"type":"reconnect_scheduled","delayMs":912,"attempt":1}
//   {"type":"resubscribed","cash":"...","trades":1,"quotes":["AAPL","MSFT"],"subscriptions":{...}}
//   {"type":"connect_error","name":"UnauthorizedError","code":"UNAUTHORIZED"}
//   {"type":"order","status":201,"data":{...}}  {"type":"logout","me":401}  {"type":"error","message":"..."}  {"type":"done"}
import { createInterface } from "node:readline";
import { login, TradewireClient, TradewireError } from "../../clients/js/dist/index.js";

const options = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const timer = setTimeout(() => {
  out({ type: "timeout" });
  finish(2);
}, options.timeoutMs ?? 60000);

let client = null;
let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  client?.close();
  out({ type: "done" });
  process.exitCode = code;
  process.stdin.destroy();
}

out({ type: "globals", window: typeof window, document: typeof document });

let sessionId = options.sessionId;
if (sessionId === undefined) {
  const session = await login(options.url, {
    username: options.username ?? "demo",
    password: options.password ?? "demo-password",
  });
  sessionId = session.sessionId;
  out({ type: "login", userId: session.userId });
}

client = new TradewireClient({
  url: options.url,
  sessionId,
  transports: options.transports ?? ["websocket"],
});
client.on("connect", () => out({ type: "connect", sid: client.socket.id }));
client.on("disconnect", (reason) => out({ type: "disconnect", reason }));
client.on("connect_error", (error) => out({ type: "connect_error", name: error.name, code: error.code ?? null }));
client.on("reconnect_scheduled", (info) => out({ type: "reconnect_scheduled", ...info }));
client.on("subscription_error", (error) => out({ type: "subscription_error", name: error.name, code: error.code }));
client.on("resubscribed", (snap) =>
  out({
    type: "resubscribed",
    cash: snap.portfolio?.cash ?? null,
    trades: snap.trades?.length ?? null,
    quotes: snap.quotes?.map((q) => q.symbol) ?? null,
    subscriptions: client.subscriptions,
  }),
);
for (const event of ["quote:update", "quotes:update", "trade:executed", "trade:failed", "portfolio:update", "server:shutdown"]) {
  client.on(event, (data) => out({ type: "event", event, data }));
}

try {
  await client.connect();
  const [portfolio, trades, quotes] = await Promise.all([
    client.subscribePortfolio(),
    client.subscribeTrades(),
    client.subscribeWatchlist(options.watch ?? ["AAPL", "MSFT"]),
  ]);
  out({ type: "subscribed", cash: portfolio.cash, trades: trades.length, quotes: quotes.map((q) => q.symbol) });
  out({ type: "ready" });
} catch (error) {
  out({ type: "error", name: error.name, code: error.code ?? null, message: error.message, typed: error instanceof TradewireError });
  finish(0);
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.cmd === "quit") {
    finish(0);
    break;
  }
  if (command.cmd === "logout") {
    await client.logout();
    const me = await fetch(`${options.url}/api/me`, { headers: { Authorization: `Bearer ${sessionId}` } });
    out({ type: "logout", me: me.status, connected: client.connected });
  }
  if (command.cmd === "order") {
    const { symbol, side, quantity } = command;
    const response = await fetch(`${options.url}/api/orders`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionId}` },
      body: JSON.stringify({ symbol, side, quantity }),
    });
    out({ type: "order", status: response.status, data: await response.json() });
  }
}
