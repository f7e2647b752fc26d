/**
 * A stand-in for socket.io-client's Socket and Manager for the logic tests: it records emits,
 * answers acks from `answers`, and lets a test play the server (connect, disconnect with a
 * reason, connect_error, pushes). The integration tests (tests/realtime/test_js_sdk.py) run the
 * SDK on the real socket.io-client against a real tradewire.
 */
import type { ClientSocket, SocketFactoryOptions } from '../src/index.js';

type Fn = (...args: never[]) => unknown;

class Emitter {
  private readonly handlers = new Map<string, Fn[]>();

  on(event: string, fn: Fn): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
    return this;
  }

  fire(event: string, ...args: unknown[]): void {
    for (const fn of this.handlers.get(event) ?? []) (fn as (...a: unknown[]) => unknown)(...args);
  }
}

export type Answer = (...args: unknown[]) => unknown;

export class FakeSocket extends Emitter {
  connected = false;
  active = false;
  /** socket.io's connection-state recovery outcome of the last connect. */
  recovered = false;
  readonly io = new Emitter();
  readonly emitted: { event: string; args: unknown[] }[] = [];
  answers: Record<string, Answer> = {};
  connects = 0;
  readonly url: string | undefined;
  readonly options: SocketFactoryOptions;

  constructor(url: string | undefined, options: SocketFactoryOptions) {
    super();
    this.url = url;
    this.options = options;
  }

  connect(): this {
    this.connects += 1;
    this.active = true;
    return this;
  }

  disconnect(): this {
    const was = this.connected;
    this.connected = false;
    this.active = false;
    if (was) this.fire('disconnect', 'io client disconnect');
    return this;
  }

  timeout(_ms: number) {
    return {
      emitWithAck: (event: string, ...args: unknown[]): Promise<unknown> => {
        this.emitted.push({ event, args });
        const answer = this.answers[event];
        if (!answer) return new Promise(() => undefined);
        return Promise.resolve(answer(...args));
      },
    };
  }

  /** The handshake's auth payload, as socket.io-client computes it. */
  authPayload(): unknown {
    const auth = this.options.auth;
    if (typeof auth !== 'function') return auth;
    let out: unknown;
    (auth as (cb: (v: unknown) => void) => void)((v) => {
      out = v;
    });
    return out;
  }

  sent(event: string): unknown[][] {
    return this.emitted.filter((e) => e.event === event).map((e) => e.args);
  }

  // --- playing the server ---
  serverConnect({ recovered = false }: { recovered?: boolean } = {}): void {
    this.recovered = recovered;
    this.connected = true;
    this.active = true;
    this.fire('connect');
  }

  serverDisconnect(reason: string): void {
    this.connected = false;
    if (reason === 'io server disconnect') this.active = false;
    this.fire('disconnect', reason);
  }

  /** A handshake refused by the server (socket.io then gives up: `active` false). */
  refuse(code: string): void {
    this.active = false;
    this.fire('connect_error', Object.assign(new Error(code.toLowerCase()), { data: { code } }));
  }

  /** A transport failure: socket.io retries it itself (`active` stays true). */
  transportError(): void {
    this.fire('connect_error', new Error('xhr poll error'));
  }

  push(event: string, ...args: unknown[]): void {
    this.fire(event, ...args);
  }
}

export function fakeFactory(): { sockets: FakeSocket[]; io: (url: string | undefined, o: SocketFactoryOptions) => ClientSocket } {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    io: (url, options) => {
      const socket = new FakeSocket(url, options);
      sockets.push(socket);
      return socket as unknown as ClientSocket;
    },
  };
}
