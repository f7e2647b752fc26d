// A minimal Socket.IO client over one WebSocket: the part of socket.io-client 4.7.5 that the
// generator uses, at a fraction of its CPU per message.
//
// At 10,000 sockets and ~100,000 frames/s (S2) the stock client saturates the generator's one
// core; its measured latency is then the generator's own backlog. This client speaks the same
// protocol (Engine.IO 4 over WebSocket, Socket.IO 5, default namespace, text packets only):
//   server: 0{open}      client: 40{auth}     server: 40{sid} | 44{error}
//   server: 2 (ping)     client: 3 (pong)
//   42[name, data]  an event;  42<id>[name, data]  one that asks for an ack;  43<id>[args]  the ack
// and offers the same surface as socket.io-client's Socket where the worker uses it: on/once,
// timeout(ms).emit(name, data, cb), close(), connected. No reconnection, no polling, no binary.
//
// For the reconnection storm (storm.js), which reconnects by itself: `id` and `pid` from the
// CONNECT reply, `lastOffset` (the last string argument of an event, as socket.io-client keeps
// it for connection-state recovery), `terminate()` (the transport drops, no Socket.IO
// disconnect: what a dead network does), and a handshake refused with an HTTP status reports
// it on the `connect_error` error as `status`, with `retryAfterS` from its Retry-After header.

import WebSocket from 'ws';

const OPEN = 48; // '0'
const CLOSE = 49; // '1'
const PING = 50; // '2'
const MESSAGE = 52; // '4'
const SIO_CONNECT = 48; // '0'
const SIO_DISCONNECT = 49; // '1'
const SIO_EVENT = 50; // '2'
const SIO_ACK = 51; // '3'
const SIO_CONNECT_ERROR = 52; // '4'

export class LeanSocket {
  /** Connect to `url`'s `/socket.io/` endpoint with `auth` as the connect payload. */
  constructor(url, { auth = {}, timeout = 20000 } = {}) {
    this.connected = false;
    this.listeners = new Map(); // event -> [fn]
    this.acks = new Map(); // ack id -> fn
    this.nextAck = 0;
    this.settled = false; // connect or connect_error happened
    this.closedByUs = false;
    this.id = undefined; // the socket id from the CONNECT reply
    this.pid = undefined; // the private session id, when the server offers recovery
    this.lastOffset = undefined;
    const base = new URL(url);
    const scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(`${scheme}//${base.host}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    this.connectTimer = setTimeout(() => this.fail('timeout'), timeout);
    this.ws.on('message', (data) => this.onFrame(data.toString()));
    this.ws.on('open', () => {});
    this.ws.on('unexpected-response', (req, res) => {
      const retryAfter = Number(res.headers['retry-after']);
      this.fail(`Unexpected server response: ${res.statusCode}`, {
        status: res.statusCode,
        retryAfterS: Number.isFinite(retryAfter) ? retryAfter : undefined,
      });
    });
    this.ws.on('error', (err) => this.fail(String(err?.message ?? err)));
    this.ws.on('close', () => {
      if (!this.settled) return this.fail('websocket closed before connect');
      if (this.connected) {
        this.connected = false;
        this.dispatch('disconnect', this.closedByUs ? 'io client disconnect' : 'transport close');
      }
    });
    this.auth = auth;
  }

  on(event, fn) {
    const list = this.listeners.get(event);
    if (list) list.push(fn);
    else this.listeners.set(event, [fn]);
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }

  off(event, fn) {
    const list = this.listeners.get(event);
    if (list) this.listeners.set(event, list.filter((f) => f !== fn));
    return this;
  }

  dispatch(event, ...args) {
    const list = this.listeners.get(event);
    if (list) for (const fn of list) fn(...args);
  }

  /** socket.io-client's `socket.timeout(ms).emit(name, data, (err, ack) => ...)`. */
  timeout(ms) {
    return {
      emit: (name, data, cb) => {
        const id = this.nextAck++;
        const timer = setTimeout(() => {
          this.acks.delete(id);
          cb(new Error('operation has timed out'));
        }, ms);
        this.acks.set(id, (ack) => {
          clearTimeout(timer);
          cb(null, ack);
        });
        this.send(`42${id}${JSON.stringify([name, data])}`);
      },
    };
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.connectTimer);
    if (this.ws.readyState === WebSocket.OPEN) this.send('41');
    this.ws.close();
  }

  /** Drop the transport without a Socket.IO disconnect, as a dead network would. */
  terminate() {
    clearTimeout(this.connectTimer);
    this.ws.terminate();
  }

  send(text) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  fail(reason, details = {}) {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.connectTimer);
    this.ws.terminate();
    this.dispatch('connect_error', Object.assign(new Error(reason), details));
  }

  onFrame(text) {
    switch (text.charCodeAt(0)) {
      case MESSAGE:
        return this.onPacket(text);
      case PING:
        return this.send('3');
      case OPEN:
        return this.send(`40${JSON.stringify(this.auth)}`);
      case CLOSE:
        return this.ws.close();
      default:
        return undefined;
    }
  }

  onPacket(text) {
    switch (text.charCodeAt(1)) {
      case SIO_EVENT: {
        const start = text.indexOf('[', 2);
        const [name, ...args] = JSON.parse(text.slice(start));
        if (start > 2) {
          // The server asked for an ack: the generator has no handler that answers one.
          this.send(`43${text.slice(2, start)}[]`);
        }
        const last = args[args.length - 1];
        if (this.pid !== undefined && typeof last === 'string') this.lastOffset = last;
        return this.dispatch(name, ...args);
      }
      case SIO_ACK: {
        const start = text.indexOf('[', 2);
        const id = Number(text.slice(2, start));
        const fn = this.acks.get(id);
        if (fn) {
          this.acks.delete(id);
          fn(...JSON.parse(text.slice(start)));
        }
        return undefined;
      }
      case SIO_CONNECT:
        if (this.settled) return undefined;
        this.settled = true;
        this.connected = true;
        clearTimeout(this.connectTimer);
        try {
          const reply = JSON.parse(text.slice(2));
          this.id = reply?.sid;
          this.pid = typeof reply?.pid === 'string' ? reply.pid : undefined;
        } catch {
          // a reply without a payload: no id to keep
        }
        return this.dispatch('connect');
      case SIO_CONNECT_ERROR: {
        let reason = 'connect error';
        try {
          reason = JSON.parse(text.slice(2))?.message ?? reason;
        } catch {
          // keep the generic reason
        }
        return this.fail(reason);
      }
      case SIO_DISCONNECT:
        this.connected = false;
        this.dispatch('disconnect', 'io server disconnect');
        return this.ws.close();
      default:
        return undefined;
    }
  }
}
