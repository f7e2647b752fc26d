// A socket.io-client session against tradewire, as a browser or React Native app would run it,
// for tests/realtime/test_js_client.py. Driven by one JSON argument:
//   { "url": "http://127.0.0.1:PORT", "sessionId": "..." (omit: no auth),
//     "transports": ["websocket"] (default: polling, then upgrade to websocket),
//     "watch": ["AAPL"], "batch": false,     subscribe:watchlist after connecting
//     "portfolio": true,                      subscribe:portfolio after connecting
//     "burst": {"event", "data", "count"},    then emit that event count times at once
//     "until": ["quote:update"],              exit once each of these arrived (or "disconnect",
//                                             "upgrade": the move from polling to websocket)
//     "reconnection": false, "timeoutMs": 10000 }
// Reports on stdout, one JSON object per line:
//   {"type":"connect","transport":"websocket"}   {"type":"upgrade","transport":"websocket"}
//   {"type":"ack","event":"subscribe:watchlist","data":{...}}   {"type":"ready"}
//   {"type":"burst","answers":[{...} or null (no answer within 5 s), ...]}
//   {"type":"event","event":"quote:update","data":{...}}
//   {"type":"connect_error","message":"unauthorized","data":{"code":"UNAUTHORIZED"}}
//   {"type":"disconnect","reason":"io server disconnect"}
//   {"type":"timeout","pending":[...]}   {"type":"done"}
import { io } from "socket.io-client";

const options = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const pending = new Set(options.until ?? []);
let ready = false;

const socket = io(options.url, {
  auth: options.sessionId === undefined ? undefined : { sessionId: options.sessionId },
  transports: options.transports ?? ["polling", "websocket"],
  reconnection: options.reconnection ?? false,
});

const timer = setTimeout(() => {
  out({ type: "timeout", pending: [...pending] });
  finish(2);
}, options.timeoutMs ?? 10000);

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  socket.close();
  out({ type: "done" });
  process.exitCode = code;
}

function maybeFinish() {
  if (ready && pending.size === 0) finish(0);
}

socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (transport) => {
    out({ type: "upgrade", transport: transport.name });
    pending.delete("upgrade");
    maybeFinish();
  });
});

socket.on("connect", async () => {
  out({ type: "connect", transport: socket.io.engine.transport.name });
  if (options.watch) {
    const ack = await socket
      .timeout(5000)
      .emitWithAck("subscribe:watchlist", { symbols: options.watch, batch: options.batch ?? false });
    out({ type: "ack", event: "subscribe:watchlist", data: ack });
  }
  if (options.portfolio) {
    const ack = await socket.timeout(5000).emitWithAck("subscribe:portfolio");
    out({ type: "ack", event: "subscribe:portfolio", data: ack });
  }
  if (options.burst) {
    // many events in one go: over long-polling they travel in one HTTP POST
    const { event, data, count } = options.burst;
    const acks = await Promise.allSettled(
      Array.from({ length: count }, () => socket.timeout(5000).emitWithAck(event, data)),
    );
    out({ type: "burst", answers: acks.map((a) => (a.status === "fulfilled" ? a.value : null)) });
  }
  ready = true;
  out({ type: "ready" });
  maybeFinish();
});

socket.on("connect_error", (error) => {
  out({ type: "connect_error", message: error.message, data: error.data ?? null });
  if (!socket.active) finish(0); // refused by the server: socket.io will not retry by itself
});

socket.on("disconnect", (reason) => {
  out({ type: "disconnect", reason });
  pending.delete("disconnect");
  if (pending.size === 0 || !socket.active) finish(0);
});

// the server's latency probe wants its ack, as every client should give it
socket.on("latency:ping", (_data, ack) => {
  if (typeof ack === "function") ack();
});

socket.onAny((event, data) => {
  out({ type: "event", event, data });
  pending.delete(event);
  maybeFinish();
});
