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
share it: `MemoryRecoveryStore` serves one instance; `RedisRecoveryStore` keeps the sessions and
the logs in Redis, so a socket that dropped from one instance recovers on any other. Pick one with
`recovery_store_from_url`, like the quote cache.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

log = logging.getLogger(__name__)

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


MAX_UNFILLED = 1000
"""User events a socket may hold past a gap before the gap is given up (`SentEvents`)."""


@dataclass(slots=True)
class SentEvents:
    """The user events sent to one socket, by `seq` within an `epoch`, so that each is sent
    once (a push that comes both live and from the outbox) and a gap is seen (a push lost while
    the instance bus was down, or published before the socket joined its user's room).

    `floor`: every event up to it was sent (or was the user's history when the socket
    connected); `above`: those sent past a gap. `known` is False when the history the socket
    started from is not known: then its first event is where it starts."""

    epoch: str | None = None
    floor: int = 0
    known: bool = True
    above: set[int] = field(default_factory=set)
    gap_since: float | None = None
    """When the oldest gap still open was first seen (the caller's clock)."""

    def note(self, epoch: str, seq: int, now: float) -> bool:
        """Count an event as sent; False when it was already (do not send it again)."""
        if not self.known:
            self.epoch, self.floor, self.known = epoch, seq - 1, True
        elif self.epoch is None:  # the user's first history: from its start (floor 0)
            self.epoch = epoch
        elif self.epoch != epoch:  # a new history: it starts over at 1
            self.epoch, self.floor = epoch, 0
            self.above.clear()
        if seq <= self.floor or seq in self.above:
            return False
        self.above.add(seq)
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)
        if len(self.above) > MAX_UNFILLED:  # the gap is not coming: move past it
            self.floor = max(self.above)
            self.above.clear()
        self.gap_since = (self.gap_since or now) if self.above else None
        return True


class RecoveryStore(Protocol):
    """The saved sessions of dropped sockets and the recent user events they may have missed.

    Contract, the same for every backend:
    - `append` logs a user event; a user's events are returned in `seq` order, each once, however
      they were appended. At most `log_size` events are kept per user, none older than `window`
      seconds.
    - `missed(user_id, epoch, seq)` is every kept event of the user after `seq`, in order, or
      None when that cannot be answered completely: the epoch differs, or some events after
      `seq` are no longer kept (the caller then does not recover the socket).
    - `save` keeps a session for `window` seconds (`save_many`: several, in one round trip);
      `take(pid)` returns it once and forgets it (None: unknown, expired or taken), so two
      sockets cannot recover one session.
    - `prune` forgets what is past the window; memory stays bounded by it and by `log_size`.
    - What one node sees: the memory store holds what this process saved and logged, so a
      socket recovers only on the instance it dropped from; the Redis store is shared, so it
      comes back on any instance. Nothing survives a restart of the memory store (or of a Redis
      without persistence): then sockets are not recovered and `GET /api/events` has the events.
    - An unreachable backend raises (redis-py's errors); the caller logs it and does without.
    """

    async def append(self, user_id: int, event: LoggedEvent) -> None: ...

    async def missed(
        self, user_id: int, epoch: str | None, seq: int
    ) -> list[LoggedEvent] | None: ...

    async def save(self, session: SavedSession) -> None: ...

    async def save_many(self, sessions: list[SavedSession]) -> None: ...

    async def take(self, pid: str) -> SavedSession | None: ...

    async def prune(self) -> None: ...

    async def close(self) -> None: ...


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

    async def save_many(self, sessions: list[SavedSession]) -> None:
        now = self.clock()
        for session in sessions:
            session.saved_at = now
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

    async def close(self) -> None:
        return None

    def _forget_oldest(self, user_id: int, log: deque[LoggedEvent]) -> None:
        gone = log.popleft()
        self._dropped[user_id] = max(self._dropped.get(user_id, 0), gone.seq)

    def __len__(self) -> int:
        """Saved sessions (for tests and the ops view)."""
        return len(self._sessions)


DEFAULT_REDIS_PREFIX = "tradewire:recovery"
HEAD_TTL = 86_400
"""Seconds a user's `{epoch, head}` outlives their last event: long past any window, so a log
trimmed or expired underneath a saved session is told apart from one with nothing to miss."""
POOL_TIMEOUT = 5.0
"""Seconds a command waits for a free pooled connection before raising."""
REDIS_TIMEOUT = 2.0
"""Seconds a command may take (a connect waits on `take` and `missed`)."""

# KEYS[1]: the user's stream, KEYS[2]: the user's head hash.
# ARGV: seq, epoch, event, data (JSON), log_size, window (ms), head TTL (s).
# A new epoch empties the stream (the old history means nothing); the stream keeps at most
# log_size entries, none older than the window (stream ids are Redis's clock, in ms), and goes
# a window after its last event.
_APPEND_SCRIPT = """
local seq = tonumber(ARGV[1])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local head = tonumber(redis.call('HGET', KEYS[2], 'head') or '0')
if epoch and epoch ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  head = 0
end
if seq > head then head = seq end
redis.call('HSET', KEYS[2], 'epoch', ARGV[2], 'head', head)
redis.call('EXPIRE', KEYS[2], ARGV[7])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[5], '*',
                      's', ARGV[1], 'e', ARGV[2], 'n', ARGV[3], 'd', ARGV[4])
local now = tonumber(string.match(id, '^(%d+)'))
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[6]))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return head
"""


class RedisRecoveryStore:
    """The cluster's `RecoveryStore`, shared by every instance on one Redis.

    - Each user's log is a Redis Stream, `{prefix}:log:{user_id}`, bounded by length (MAXLEN
      `log_size`) and by age (MINID: nothing older than `window`); it expires a window after
      its last event. One Lua script appends, trims and moves the user's head, atomically
      across instances.
    - `{prefix}:head:{user_id}`, a hash `{epoch, head}`: the newest `seq` appended in that
      epoch. `missed` answers only with every event from the offset up to the head, each
      once and in `seq` order (entries are sorted and deduplicated when read); a gap (trimmed,
      expired, or an append that failed) answers None, and the socket is not recovered.
    - Saved sessions are JSON strings, `{prefix}:session:{pid}`, with a TTL of `window`;
      `take` is GETDEL, so one socket alone gets a session, on whichever instance.
    - `prune` has nothing to do: Redis expires and trims by itself.
    """

    def __init__(
        self,
        redis: Redis,
        window: float,
        log_size: int,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        owns_client: bool = False,
    ) -> None:
        self.window = window
        self.log_size = log_size
        self._redis = redis
        self._prefix = prefix
        self._owns_client = owns_client
        self._window_ms = max(1, round(window * 1000))
        self._append = redis.register_script(_APPEND_SCRIPT)

    @classmethod
    def from_url(
        cls, url: str, window: float, log_size: int, *, prefix: str = DEFAULT_REDIS_PREFIX
    ) -> RedisRecoveryStore:
        """A store with its own client for `url`; `close` closes that client."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=32,
            timeout=POOL_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
        return cls(Redis.from_pool(pool), window, log_size, prefix=prefix, owns_client=True)

    def _log_key(self, user_id: int) -> str:
        return f"{self._prefix}:log:{user_id}"

    def _head_key(self, user_id: int) -> str:
        return f"{self._prefix}:head:{user_id}"

    def _session_key(self, pid: str) -> str:
        return f"{self._prefix}:session:{pid}"

    async def append(self, user_id: int, event: LoggedEvent) -> None:
        await self._append(
            keys=[self._log_key(user_id), self._head_key(user_id)],
            args=[
                event.seq,
                event.epoch,
                event.event,
                orjson.dumps(event.data),
                self.log_size,
                self._window_ms,
                HEAD_TTL,
            ],
        )

    async def missed(self, user_id: int, epoch: str | None, seq: int) -> list[LoggedEvent] | None:
        raw_head = cast("dict[bytes, bytes]", await self._redis.hgetall(self._head_key(user_id)))
        if not raw_head:
            # no event for a day (or ever): nothing missed since the session was saved
            return None if epoch is None and seq != 0 else []
        known_epoch = raw_head.get(b"epoch", b"").decode()
        head = int(raw_head.get(b"head", b"0"))
        if (epoch is not None and known_epoch != epoch) or (epoch is None and seq != 0):
            return None
        if head <= seq:
            return []
        key = self._log_key(user_id)
        # newest first, a little past the count wanted (entries may sit slightly out of order)
        entries = await self._redis.xrevrange(key, count=min(head - seq + 16, self.log_size + 16))
        found = self._after(entries, known_epoch, seq)
        if not self._complete(found, seq, head):
            found = self._after(await self._redis.xrange(key), known_epoch, seq)
        return found if self._complete(found, seq, head) else None

    def _after(self, entries: Any, epoch: str, seq: int) -> list[LoggedEvent]:
        """The stream entries of `epoch` after `seq`, in `seq` order, once each."""
        by_seq: dict[int, LoggedEvent] = {}
        for _id, fields in entries:
            try:
                event = LoggedEvent(
                    int(fields[b"s"]),
                    fields[b"e"].decode(),
                    fields[b"n"].decode(),
                    orjson.loads(fields[b"d"]),
                )
            except (KeyError, ValueError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
                log.warning("undecodable recovery log entry", extra={"error": repr(exc)})
                continue
            if event.epoch == epoch and event.seq > seq:
                by_seq.setdefault(event.seq, event)
        return [by_seq[s] for s in sorted(by_seq)]

    @staticmethod
    def _complete(found: list[LoggedEvent], seq: int, head: int) -> bool:
        """Every seq from `seq + 1` to `head`: the user's seq grows by one per event."""
        return [e.seq for e in found] == list(range(seq + 1, head + 1))

    async def save(self, session: SavedSession) -> None:
        await self.save_many([session])

    async def save_many(self, sessions: list[SavedSession]) -> None:
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for session in sessions:
            session.saved_at = now
            body = orjson.dumps(dataclasses.asdict(session))
            pipe.set(self._session_key(session.pid), body, px=self._window_ms)
        await pipe.execute()

    async def take(self, pid: str) -> SavedSession | None:
        raw = await self._redis.getdel(self._session_key(pid))
        if raw is None:
            return None
        try:
            return SavedSession(**orjson.loads(cast("bytes", raw)))
        except (TypeError, orjson.JSONDecodeError) as exc:
            log.warning("undecodable saved session", extra={"pid": pid, "error": repr(exc)})
            return None

    async def prune(self) -> None:
        return None

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def recovery_store_from_url(url: str, window: float, log_size: int) -> RecoveryStore:
    """ "" or "memory://": `MemoryRecoveryStore`; "redis://", "rediss://" or "unix://": a
    `RedisRecoveryStore` on that server. Anything else: `ValueError`."""
    if url in ("", "memory://"):
        return MemoryRecoveryStore(window, log_size)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisRecoveryStore.from_url(url, window, log_size)
    scheme, sep, _ = url.partition("://")
    what = f"scheme {scheme!r}" if sep else "value (no scheme)"
    raise ValueError(f"unsupported recovery store URL {what}: use 'memory://' or 'redis://...'")
