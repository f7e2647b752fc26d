"""Which of the user's events (`trade:executed`, `trade:failed`, `portfolio:update`, numbered by
`seq` within an `epoch`) the client has accounted for, so that none is handed on twice and none
is lost unnoticed. The same rules as the JS client's `UserEventLedger` (docs/CLIENTS.md):

- `floor`: every event up to it is accounted for (pushed, replayed, or in a snapshot);
- `above`: events past the floor that came already (pushes from two instances may cross);
- a new `epoch` starts the ledger over at that event; the epoch `""` of a page is a user with
  no event yet, and the first epoch that comes is the same history, from its start.
"""

from __future__ import annotations

from tradewire.schemas import UserEventOut, UserEventsPage


class UserEventLedger:
    def __init__(self) -> None:
        self.epoch: str | None = None
        self.floor = 0
        self._above: set[int] = set()

    @property
    def known(self) -> bool:
        """Whether the ledger has a place in the history yet."""
        return self.epoch is not None

    def accept(self, seq: int, epoch: str) -> bool:
        """Note a pushed event; False when it was accounted for already (drop it)."""
        if self.epoch == "":
            self.epoch = epoch
        if self.epoch != epoch:
            self.epoch, self.floor = epoch, seq
            self._above.clear()
            return True
        if seq <= self.floor or seq in self._above:
            return False
        self._above.add(seq)
        self._advance()
        return True

    def absorb(self, page: UserEventsPage, complete: bool | None = None) -> list[UserEventOut]:
        """Take a page of `GET /api/events?after=<floor>`: its events not accounted for yet;
        on the last page (`complete`) the floor moves to `last_seq`."""
        complete = not page.has_more if complete is None else complete
        if self.epoch == "" and page.epoch != "":
            self.epoch = page.epoch
        if self.epoch != page.epoch:
            self.epoch, self.floor = page.epoch, page.last_seq
            self._above.clear()
            return []
        fresh = [e for e in page.events if e.seq > self.floor and e.seq not in self._above]
        self._above.update(e.seq for e in fresh)
        if complete and page.last_seq > self.floor:
            self.floor = page.last_seq
        self._advance()
        return fresh

    def _advance(self) -> None:
        while self.floor + 1 in self._above:
            self.floor += 1
            self._above.discard(self.floor)
        self._above = {seq for seq in self._above if seq > self.floor}
