/**
 * A stand-in for socket.io-client's Socket and Manager, for unit tests only (the e2e suite runs
 * against the real server). It records emits, answers acks from `ackHandlers`, and lets a test
 * play the server: connect, disconnect with a reason, connect_error, pushed events.
 */
import { vi } from 'vitest';

type Fn = (...args: never[]) => unknown;

class Emitter {
  private handlers = new Map<string, Fn[]>();

  on(event: string, fn: Fn): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
    return this;
  }

  off(event?: string, fn?: Fn): this {
    if (event === undefined) this.handlers.clear();
    else if (fn === undefined) this.handlers.delete(event);
    else this.handlers.set(event, (this.handlers.get(event) ?? []).filter((h) => h !== fn));
    return this;
  }

  removeAllListeners(event?: string): this {
    return this.off(event);
  }

  listeners(event: string): Fn[] {
    return [...(this.handlers.get(event) ?? [])];
  }

  listenerCount(event: string): number {
    return this.listeners(event).length;
  }

  totalListeners(): number {
    let n = 0;
    for (const list of this.handlers.values()) n += list.length;
    return n;
  }

  fire(event: string, ...args: unknown[]): void {
    for (const fn of this.listeners(event)) (fn as (...a: unknown[]) => unknown)(...args);
  }
}

export class MockManager extends Emitter {
  delay = 0;
  delayMax = 0;
  randomization = 0;
  reconnectionDelay = vi.fn((v: number) => {
    this.delay = v;
    return this;
  });
  reconnectionDelayMax = vi.fn((v: number) => {
    this.delayMax = v;
    return this;
  });
  randomizationFactor = vi.fn((v: number) => {
    this.randomization = v;
    return this;
  });
}

export type AckHandler = (...args: unknown[]) => unknown;

export class MockSocket extends Emitter {
  connected = false;
  active = false;
  /** socket.io's connection-state recovery outcome of the last connect. */
  recovered = false;
  readonly io = new MockManager();
  readonly emitted: { event: string; args: unknown[] }[] = [];
  ackHandlers: Record<string, AckHandler> = {};
  readonly options: Record<string, unknown>;

  constructor(options: Record<string, unknown>) {
    super();
    this.options = options;
  }

  connect = vi.fn(() => {
    this.active = true;
    return this;
  });

  disconnect = vi.fn(() => {
    const wasConnected = this.connected;
    this.active = false;
    this.connected = false;
    if (wasConnected) this.fire('disconnect', 'io client disconnect');
    return this;
  });

  /** `socket.timeout(ms)`: the mock never times out (an unanswered emit stays pending). */
  timeout(_ms?: number) {
    return {
      emitWithAck: (event: string, ...args: unknown[]) => {
        this.emitted.push({ event, args });
        const handler = this.ackHandlers[event];
        if (!handler) return new Promise(() => undefined); // never answered
        return Promise.resolve(handler(...args));
      },
    };
  }

  emit(event: string, ...args: unknown[]): this {
    this.emitted.push({ event, args });
    return this;
  }

  /** The handshake's auth payload, as the real client would compute it. */
  authPayload(): unknown {
    const auth = this.options.auth;
    if (typeof auth !== 'function') return auth;
    let out: unknown;
    (auth as (cb: (v: unknown) => void) => void)((v) => {
      out = v;
    });
    return out;
  }

  count(event: string): number {
    return this.emitted.filter((e) => e.event === event).length;
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

  connectError(message: string, data?: unknown, { refusedByServer = false } = {}): void {
    if (refusedByServer) this.active = false;
    const err = Object.assign(new Error(message), data === undefined ? {} : { data });
    this.fire('connect_error', err);
  }

  push(event: string, payload: unknown): void {
    this.fire(event, payload);
  }
}

export const sockets: MockSocket[] = [];

export const ioMock = vi.fn((options: Record<string, unknown>) => {
  const socket = new MockSocket(options);
  sockets.push(socket);
  return socket;
});

export function lastSocket(): MockSocket {
  const s = sockets.at(-1);
  if (!s) throw new Error('no socket was created');
  return s;
}

export function resetSockets(): void {
  sockets.length = 0;
  ioMock.mockClear();
}
