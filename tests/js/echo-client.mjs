// The stock socket.io-client against `tradewire protocol-test-server`, for
// tests/realtime/transport/test_clients.py. One JSON argument:
//   { "url": "http://127.0.0.1:PORT/custom", "transports": ["websocket"], "auth": {...} }
// Connects, emits `message` and `message-with-ack` (a binary argument too), and prints one JSON
// line: {"auth": ..., "back": [...], "ack": [...], "transport": "...", "binary": [1,2,3]}.
import { io } from "socket.io-client";

const options = JSON.parse(process.argv[2]);
const socket = io(options.url, {
  auth: options.auth,
  transports: options.transports ?? ["polling", "websocket"],
  reconnection: false,
});
const timer = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ error: "timeout" })}\n`);
  process.exit(2);
}, options.timeoutMs ?? 10000);

const auth = new Promise((resolve) => socket.once("auth", resolve));
const back = new Promise((resolve) => socket.once("message-back", (...args) => resolve(args)));
socket.on("connect_error", (err) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(3);
});
socket.on("connect", async () => {
  if (options.upgrade && socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  socket.emit("message", 1, "2", { 3: [true] });
  const call = (...args) =>
    new Promise((resolve) => socket.emit("message-with-ack", ...args, (...acked) => resolve(acked)));
  const ack = await call("x", { y: [1, null] });
  const [binary] = await call(Uint8Array.from([1, 2, 3]));
  const result = {
    auth: await auth,
    back: await back,
    ack,
    binary: Array.from(binary),
    transport: socket.io.engine.transport.name,
  };
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  socket.close();
});
