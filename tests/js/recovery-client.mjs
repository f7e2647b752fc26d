// A socket.io-client session that loses its network and comes back, for
// tests/realtime/test_recovery.py. Driven by one JSON argument:
//   { "url": "http://127.0.0.1:PORT", "sessionId": "...",
//     "transports": ["websocket"], "watch": ["AAPL"], "batch": false, "cookie": "tw_lb=k1" }
// ("cookie": a Cookie header on every request, as a browser behind nginx would send its
// affinity cookie) and by lines on stdin:
//   drop        close the transport from the client's side (as a dead network would: the
//               server sees the connection close, not a disconnect)
//   cookie C    send the Cookie header C from the next connect on (another network: nginx
//               may send the client to another instance)
//   reconnect   connect again (socket.io sends back its pid and last offset)
//   exit        close and end
// Subscribes (portfolio, trades, watchlist) on a connect that did not recover, as an app
// would; a recovered socket subscribes to nothing, its subscriptions are the server's.
// Reports on stdout, one JSON object per line:
//   {"type":"connect","recovered":false,"id":"..."}   {"type":"ready","recovered":false}
//   {"type":"ack","event":"subscribe:watchlist","data":{...}}
//   {"type":"event","event":"trade:executed","data":{...},"offset":"7"}
//   {"type":"disconnect","reason":"transport close"}   {"type":"done"}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const options = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const socket = io(options.url, {
  auth: { sessionId: options.sessionId },
  transports: options.transports ?? ["websocket"],
  reconnection: false, // the test decides when the network comes back
  extraHeaders: options.cookie ? { Cookie: options.cookie } : {},
});

socket.on("connect", async () => {
  out({ type: "connect", recovered: socket.recovered, id: socket.id });
  if (!socket.recovered) {
    for (const event of ["subscribe:portfolio", "subscribe:trades"]) {
      const ack = await socket.timeout(5000).emitWithAck(event);
      out({ type: "ack", event, data: ack });
    }
    if (options.watch) {
      const ack = await socket
        .timeout(5000)
        .emitWithAck("subscribe:watchlist", { symbols: options.watch, batch: options.batch ?? false });
      out({ type: "ack", event: "subscribe:watchlist", data: ack });
    }
  }
  out({ type: "ready", recovered: socket.recovered });
});

socket.on("connect_error", (error) => {
  out({ type: "connect_error", message: error.message, data: error.data ?? null });
});

socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));

socket.on("latency:ping", (_data, ack) => {
  if (typeof ack === "function") ack();
});

socket.onAny((event, data, ...rest) => {
  const offset = rest.length && typeof rest[rest.length - 1] === "string" ? rest[rest.length - 1] : null;
  out({ type: "event", event, data, offset });
});

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "drop") socket.io.engine.close();
  else if (command.startsWith("cookie ")) socket.io.opts.extraHeaders = { Cookie: command.slice(7) };
  else if (command === "reconnect") socket.connect();
  else if (command === "exit") {
    socket.close();
    out({ type: "done" });
    process.exit(0);
  }
});
