/**
 * UserEventLedger: which of the user's events (`trade:executed`, `trade:failed`,
 * `portfolio:update`, numbered by `seq` within an `epoch`, docs/WEBSOCKET.md) this client has
 * accounted for, so that none is shown twice and none is lost unnoticed.
 *
 * - `floor`: every event up to it is accounted for (pushed, replayed, or in a snapshot);
 * - `above`: events past the floor that came already (pushes from two instances may arrive out
 *   of order, so a high-water mark alone would drop the late one as a duplicate);
 * - a new `epoch` means the history started over: the ledger starts over at that event. The
 *   epoch `""` of a page is a user with no event yet: the first epoch that comes is the same
 *   history, from its start.
 *
 * It knows nothing of sockets or REST: the client feeds it pushes (`accept`) and pages of
 * `GET /api/events` (`absorb`).
 */
import type { UserEventOut, UserEventsPage } from './types.js';

/** What of a user event the ledger reads. */
export interface Numbered {
  seq: number;
  epoch: string;
}

export class UserEventLedger {
  private epochValue: string | null = null;
  private floorValue = 0;
  private readonly above = new Set<number>();

  /** The epoch the ledger counts in; null before the first event or page. */
  get epoch(): string | null {
    return this.epochValue;
  }

  /** Every event with a `seq` up to this one is accounted for. */
  get floor(): number {
    return this.floorValue;
  }

  /** Whether the ledger has a place in the history yet (an event or a page came). */
  get known(): boolean {
    return this.epochValue !== null;
  }

  /** Notes a pushed event; false when it was accounted for already (a duplicate: drop it). */
  accept(event: Numbered): boolean {
    if (this.epochValue === '') this.epochValue = event.epoch; // the history's first events
    if (this.epochValue !== event.epoch) {
      this.above.clear();
      this.epochValue = event.epoch;
      this.floorValue = event.seq;
      return true;
    }
    if (event.seq <= this.floorValue || this.above.has(event.seq)) return false;
    this.above.add(event.seq);
    this.advance();
    return true;
  }

  /**
   * Takes a page of `GET /api/events?after=<floor>`: returns its events not accounted for yet
   * (in `seq` order) and marks them. With `complete` (the last page: the client has the history
   * up to `page.lastSeq`), the floor moves to `lastSeq`. A page of another epoch (the history
   * started over) accounts for nothing before it: the ledger restarts at its `lastSeq`.
   */
  absorb(page: UserEventsPage, complete = !page.hasMore): UserEventOut[] {
    if (this.epochValue === '' && page.epoch !== '') this.epochValue = page.epoch; // its start
    if (this.epochValue !== page.epoch) {
      this.epochValue = page.epoch;
      this.floorValue = page.lastSeq;
      this.above.clear();
      return [];
    }
    const fresh = page.events.filter((e) => e.seq > this.floorValue && !this.above.has(e.seq));
    for (const e of fresh) this.above.add(e.seq);
    if (complete && page.lastSeq > this.floorValue) this.floorValue = page.lastSeq;
    this.advance();
    return fresh;
  }

  private advance(): void {
    while (this.above.has(this.floorValue + 1)) {
      this.floorValue += 1;
      this.above.delete(this.floorValue);
    }
    for (const seq of this.above) if (seq <= this.floorValue) this.above.delete(seq);
  }
}
