import { describe, expect, it, vi } from 'vitest';
import { trade } from '../test/fixtures';
import { DashboardStore } from './dashboardStore';

describe('DashboardStore', () => {
  it('merges trades newest first without duplicates, keeping 50', () => {
    const store = new DashboardStore();
    store.mergeTrades(Array.from({ length: 50 }, (_, i) => trade(i + 1)));
    store.addTrade(trade(51));
    store.addTrade(trade(51));
    const ids = store.getState().trades?.map((t) => t.tradeId) ?? [];
    expect(ids).toHaveLength(50);
    expect(ids[0]).toBe(51);
    expect(ids.at(-1)).toBe(2);
  });

  it('announces trades a poll found that were not known before, oldest first', () => {
    const store = new DashboardStore();
    const announced = vi.fn();
    store.onNewTrade(announced);
    store.mergeTrades([trade(1)], { announce: true }); // the first load is a baseline
    expect(announced).not.toHaveBeenCalled();
    store.mergeTrades([trade(3), trade(2), trade(1)], { announce: true });
    expect(announced.mock.calls.map(([t]) => (t as { tradeId: number }).tradeId)).toEqual([2, 3]);
  });

  it('resolves watchlistReady once the watchlist is loaded', async () => {
    const store = new DashboardStore();
    const ready = store.watchlistReady();
    store.setWatchlist(['AAPL']);
    await expect(ready).resolves.toEqual(['AAPL']);
    await expect(store.watchlistReady()).resolves.toEqual(['AAPL']);
  });
});
