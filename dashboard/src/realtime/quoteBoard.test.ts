import { describe, expect, it, vi } from 'vitest';
import { quote } from '../test/fixtures';
import { QuoteBoard } from './quoteBoard';

function manualFrames() {
  const callbacks = new Map<number, () => void>();
  let next = 1;
  return {
    scheduler: {
      request: (cb: () => void) => {
        callbacks.set(next, cb);
        return next++;
      },
      cancel: (h: number) => callbacks.delete(h),
    },
    pending: () => callbacks.size,
    run: () => {
      const cbs = [...callbacks.values()];
      callbacks.clear();
      cbs.forEach((cb) => {
        cb();
      });
    },
  };
}

describe('QuoteBoard', () => {
  it('applies a burst of quotes once, at the next animation frame', () => {
    const frames = manualFrames();
    const board = new QuoteBoard(frames.scheduler);
    const aapl = vi.fn();
    const msft = vi.fn();
    board.subscribeSymbol('AAPL', aapl);
    board.subscribeSymbol('MSFT', msft);

    for (let seq = 1; seq <= 20; seq++) board.push([quote('AAPL', `${100 + seq}.00`, seq)]);
    board.push([quote('MSFT', '300.00', 1)]);
    expect(frames.pending()).toBe(1); // one frame requested for the whole burst
    expect(board.row('AAPL')).toBeUndefined();
    expect(aapl).not.toHaveBeenCalled();

    frames.run();
    expect(board.row('AAPL')?.quote.last).toBe('120.00');
    expect(aapl).toHaveBeenCalledTimes(1);
    expect(msft).toHaveBeenCalledTimes(1);
  });

  it('marks up and down ticks of `last`, and only notifies changed symbols', () => {
    const frames = manualFrames();
    const board = new QuoteBoard(frames.scheduler);
    const aapl = vi.fn();
    const msft = vi.fn();
    board.subscribeSymbol('AAPL', aapl);
    board.subscribeSymbol('MSFT', msft);
    board.push([quote('AAPL', '100.00', 1), quote('MSFT', '50.00', 1)]);
    frames.run();
    expect(board.row('AAPL')).toMatchObject({ direction: 'flat', flash: 0 });

    board.push([quote('AAPL', '100.50', 2)]);
    frames.run();
    expect(board.row('AAPL')).toMatchObject({ direction: 'up', flash: 1 });
    expect(msft).toHaveBeenCalledTimes(1);

    board.push([quote('AAPL', '99.99', 3)]);
    frames.run();
    expect(board.row('AAPL')).toMatchObject({ direction: 'down', flash: 2 });

    // same last price (bid/ask moved): keeps the direction, no new flash
    board.push([quote('AAPL', '99.99', 4, { bid: '99.98' })]);
    frames.run();
    expect(board.row('AAPL')).toMatchObject({ direction: 'down', flash: 2 });
  });

  it('drops a quote older than the one it has, but accepts a restarted sequence', () => {
    const frames = manualFrames();
    const board = new QuoteBoard(frames.scheduler);
    board.push([quote('AAPL', '100.00', 10)]);
    board.push([quote('AAPL', '90.00', 9, { ts: 1 })]);
    frames.run();
    expect(board.row('AAPL')?.quote.seq).toBe(10);
    // server restarted: seq starts again but the quote is newer
    board.push([quote('AAPL', '101.00', 1, { ts: Date.now() + 10_000 })]);
    frames.run();
    expect(board.row('AAPL')?.quote.last).toBe('101.00');
  });

  it('forgets removed symbols and cancels its frame on dispose', () => {
    const frames = manualFrames();
    const board = new QuoteBoard(frames.scheduler);
    board.push([quote('AAPL', '100.00', 1)]);
    frames.run();
    board.remove('AAPL');
    expect(board.row('AAPL')).toBeUndefined();
    board.push([quote('AAPL', '100.00', 2)]);
    board.dispose();
    expect(frames.pending()).toBe(0);
  });
});
