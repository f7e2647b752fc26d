import { describe, expect, it } from 'vitest';
import { UserEventLedger, type UserEventOut, type UserEventsPage } from '../src/index.js';

const event = (seq: number, epoch = 'e1'): UserEventOut => ({
  event: 'portfolio:update',
  seq,
  epoch,
  data: {
    seq,
    epoch,
    userId: 1,
    cash: '1.00',
    positions: [],
    positionsValue: '0.00',
    totalValue: '1.00',
    unrealizedPnl: '0.00',
    asOf: '2026-01-01T00:00:00Z',
  },
  createdAt: '2026-01-01T00:00:00Z',
});
const page = (lastSeq: number, seqs: number[], epoch = 'e1', hasMore = false): UserEventsPage => ({
  epoch,
  events: seqs.map((s) => event(s, epoch)),
  hasMore,
  oldestSeq: seqs[0] ?? null,
  lastSeq,
});

describe('UserEventLedger', () => {
  it('accepts each seq once, in any order, and moves its floor over what is complete', () => {
    const ledger = new UserEventLedger();
    expect(ledger.known).toBe(false);
    expect(ledger.accept({ seq: 5, epoch: 'e1' })).toBe(true); // the first: where it stands
    expect(ledger.accept({ seq: 7, epoch: 'e1' })).toBe(true);
    expect(ledger.floor).toBe(5); // 6 is not here yet
    expect(ledger.accept({ seq: 6, epoch: 'e1' })).toBe(true);
    expect(ledger.floor).toBe(7);
    expect([5, 6, 7].map((seq) => ledger.accept({ seq, epoch: 'e1' }))).toEqual([false, false, false]);
  });

  it('absorbs a page: the events not seen, then the floor at lastSeq', () => {
    const ledger = new UserEventLedger();
    ledger.absorb(page(2, []));
    expect([ledger.epoch, ledger.floor]).toEqual(['e1', 2]);
    ledger.accept({ seq: 4, epoch: 'e1' }); // pushed live while the catch-up was on its way
    const fresh = ledger.absorb(page(5, [3, 4, 5]));
    expect(fresh.map((e) => e.seq)).toEqual([3, 5]);
    expect(ledger.floor).toBe(5);
  });

  it('an incomplete page does not move the floor past what it held', () => {
    const ledger = new UserEventLedger();
    ledger.absorb(page(0, []));
    expect(ledger.absorb(page(500, [1, 2], 'e1', true)).map((e) => e.seq)).toEqual([1, 2]);
    expect(ledger.floor).toBe(2);
  });

  it('a new epoch starts over: nothing from before counts, nothing is reported as missed', () => {
    const ledger = new UserEventLedger();
    ledger.absorb(page(9, []));
    expect(ledger.absorb(page(3, [1, 2, 3], 'e2'))).toEqual([]);
    expect([ledger.epoch, ledger.floor]).toEqual(['e2', 3]);
    expect(ledger.accept({ seq: 1, epoch: 'e3' })).toBe(true);
    expect([ledger.epoch, ledger.floor]).toEqual(['e3', 1]);
  });

  it('a user with no event yet ("" epoch) keeps the same history when the first one comes', () => {
    const ledger = new UserEventLedger();
    ledger.absorb(page(0, [], ''));
    expect([ledger.known, ledger.floor]).toEqual([true, 0]);
    expect(ledger.absorb(page(2, [1, 2], 'e9')).map((e) => e.seq)).toEqual([1, 2]);
    expect([ledger.epoch, ledger.floor]).toEqual(['e9', 2]);

    const pushed = new UserEventLedger();
    pushed.absorb(page(0, [], ''));
    expect(pushed.accept({ seq: 1, epoch: 'e9' })).toBe(true);
    expect([pushed.epoch, pushed.floor]).toEqual(['e9', 1]);
  });
});
