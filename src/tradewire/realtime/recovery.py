"""Connection-state recovery: what a dropped socket needs to come back as if it never left.

Socket.IO's recovery protocol (v5, as socket.io-client 4.6+ speaks it): the CONNECT reply
carries a private session id `pid` next to `sid`; every recoverable event carries an offset as
its last argument; a client that lost its transport reconnects with `{pid, offset}` in the
CONNECT's auth, and when the server still has that session, the socket gets its old `sid`,
its state and the events it missed after `offset`, and the client sets `recovered`.

Here the recoverable events are the user events (`trade:executed`, `trade:failed`,
`portfolio:update`) and the offset is their `seq` as a string. A session is saved when a
socket's transport drops (not when the client or the server ended it) and taken, once, by
the socket that recovers it.

`RecoveryStore` is what the server needs for that, behind one small interface so a cluster can
share it; `MemoryRecoveryStore` serves one instance.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

RECOVERABLE_REASONS = frozenset({"transport close", "transport error", "ping timeout"})
"""Why a socket left, when its state is kept: the network, not a decision of either side."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One user event as pushed: `data` is its payload (with `seq` and `epoch`)."""

    seq: int
    epoch: str
    event: str
    data: Any
    at: float = 0.0
    """When it was logged (the store's clock)."""


@dataclass(slots=True)
class SavedSession:
    """What a dropped socket leaves behind for its recovery."""

    pid: str
    sid: str
    user_id: int
    session_key: str
    symbols: list[str]
    batch: bool
    epoch: str | None
    """The user's history the socket knew (None: no event when it connected)."""
    seq: int
    """The last user event the socket is known to have had when it connected; the client's
    offset, when it sends one, is more recent."""
    saved_at: float = 0.0


class RecoveryStore(Protocol):
    """The saved sessions of dropped sockets and the recent user events they may have missed.

    Contract, the same for every backend:
    - `append` logs a user event; a user's events are returned in `seq` order, each once, however
      they were appended. At most `log_size` events are kept per user, none older than `window`
      seconds.
    - `missed(user_id, epoch, seq)` is every kept event of the user after `seq`, in order, or
      None when that cannot be answered completely: the epoch differs, or some events after
      `seq` are no longer kept (the caller then does not recover the socket).
    - `save` keeps a session for `window` seconds; `take(pid)` returns it once and forgets it
      (None: unknown, expired or taken), so two sockets cannot recover one session.
    - `prune` forgets what is past the window; memory stays bounded by it and by `log_size`.
    - What one node sees: the memory store holds what this process saved and logged, so a
      socket recovers only on the instance it dropped from; a shared backend (Redis Streams)
      would let it come back anywhere. Nothing survives a restart of the memory store: then
      sockets are not recovered and `GET /api/events` has the events.
    """

    async def append(self, user_id: int, event: LoggedEvent) -> None: ...

    async def missed(
        self, user_id: int, epoch: str | None, seq: int
    ) -> list[LoggedEvent] | None: ...

    async def save(self, session: SavedSession) -> None: ...

    async def take(self, pid: str) -> SavedSession | None: ...

    async def prune(self) -> None: ...


class MemoryRecoveryStore:
    """One instance's `RecoveryStore`: dicts and deques, pruned by the caller's sweep."""

    def __init__(
        self, window: float, log_size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.log_size = log_size
        self.clock = clock
        """Seconds, monotonic; a test may move it on."""
        # logs[user_id]: that user's recent events, in seq order
        self._logs: dict[int, deque[LoggedEvent]] = {}
        # dropped[user_id]: the newest seq no longer kept (pruned or past log_size)
        self._dropped: dict[int, int] = {}
        # sessions[pid]: dropped sockets waiting for their recovery, oldest first
        self._sessions: dict[str, SavedSession] = {}

    async def append(self, user_id: int, event: LoggedEvent) -> None:
        logged = LoggedEvent(event.seq, event.epoch, event.event, event.data, self.clock())
        log = self._logs.get(user_id)
        if log is None:
            log = self._logs[user_id] = deque()
        if log and log[-1].epoch != logged.epoch:  # a new history: the old one means nothing
            log.clear()
            self._dropped.pop(user_id, None)
        if not log or log[-1].seq < logged.seq:
            log.append(logged)
        else:  # out of order (rare: two fills committed close together)
            seqs = [e.seq for e in log]
            at = bisect.bisect_left(seqs, logged.seq)
            if at < len(seqs) and seqs[at] == logged.seq:
                return  # once only
            log.insert(at, logged)
        while len(log) > self.log_size:
            self._forget_oldest(user_id, log)

    async def missed(self, user_id: int, epoch: str | None, seq: int) -> list[LoggedEvent] | None:
        log = self._logs.get(user_id)
        if not log:
            # nothing logged: nothing missed, unless what was missed has been dropped
            return None if self._dropped.get(user_id, 0) > seq else []
        if epoch is not None and log[0].epoch != epoch:
            return None
        if epoch is None and seq != 0:
            return None
        if self._dropped.get(user_id, 0) > seq:
            return None
        return [e for e in log if e.seq > seq]

    async def save(self, session: SavedSession) -> None:
        session.saved_at = self.clock()
        self._sessions[session.pid] = session

    async def take(self, pid: str) -> SavedSession | None:
        session = self._sessions.pop(pid, None)
        if session is None or self.clock() - session.saved_at > self.window:
            return None
        return session

    async def prune(self) -> None:
        cutoff = self.clock() - self.window
        for pid in [p for p, s in self._sessions.items() if s.saved_at < cutoff]:
            del self._sessions[pid]
        for user_id in list(self._logs):
            log = self._logs[user_id]
            while log and log[0].at < cutoff:
                self._forget_oldest(user_id, log)
            if not log:
                del self._logs[user_id]

    def _forget_oldest(self, user_id: int, log: deque[LoggedEvent]) -> None:
        gone = log.popleft()
        self._dropped[user_id] = max(self._dropped.get(user_id, 0), gone.seq)

    def __len__(self) -> int:
        """Saved sessions (for tests and the ops view)."""
        return len(self._sessions)
