import { describe, expect, it } from 'vitest';
import {
  AckError,
  ackError,
  ConnectRefusedError,
  connectError,
  RateLimitedError,
  ShuttingDownError,
  TooManyConnectionsError,
  TradewireError,
  UnauthorizedError,
  UnknownSymbolError,
} from '../src/index.js';

describe('ackError', () => {
  it('maps RATE_LIMITED with its retryAfterMs', () => {
    const error = ackError('subscribe:trades', { code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 1234 });
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toBeInstanceOf(AckError);
    expect(error).toBeInstanceOf(TradewireError);
    expect((error as RateLimitedError).retryAfterMs).toBe(1234);
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.event).toBe('subscribe:trades');
    expect(error.message).toBe('subscribe:trades: slow down');
  });

  it('maps UNKNOWN_SYMBOL with the unknown symbols', () => {
    const error = ackError('subscribe:watchlist', { code: 'UNKNOWN_SYMBOL', message: 'unknown', symbols: ['ZZZZ'] });
    expect(error).toBeInstanceOf(UnknownSymbolError);
    expect((error as UnknownSymbolError).symbols).toEqual(['ZZZZ']);
  });

  it.each(['VALIDATION_ERROR', 'LIMIT_EXCEEDED', 'UNKNOWN_EVENT', 'FORBIDDEN', 'INTERNAL'] as const)(
    'maps %s to a plain AckError with its code',
    (code) => {
      const error = ackError('subscribe:ops', { code, message: 'no' });
      expect(error.constructor).toBe(AckError);
      expect(error.code).toBe(code);
    },
  );
});

describe('connectError', () => {
  const refused = (code: string) => Object.assign(new Error(code.toLowerCase()), { data: { code } });

  it.each([
    ['UNAUTHORIZED', UnauthorizedError],
    ['SHUTTING_DOWN', ShuttingDownError],
    ['TOO_MANY_CONNECTIONS', TooManyConnectionsError],
  ] as const)('maps a %s refusal to its class', (code, cls) => {
    const error = connectError(refused(code));
    expect(error).toBeInstanceOf(cls);
    expect(error).toBeInstanceOf(ConnectRefusedError);
    expect((error as ConnectRefusedError).code).toBe(code);
    expect(error.message).toBe(code.toLowerCase());
  });

  it('returns a transport failure as it is', () => {
    const failure = new Error('xhr poll error');
    expect(connectError(failure)).toBe(failure);
  });
});
