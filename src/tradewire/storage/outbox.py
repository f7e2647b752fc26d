"""The outbox of user events: written in the transaction of what they tell of, read back by
`GET /api/events` and by a client that missed pushes.

Synchronous units of work for `Database.run` / `Database.read` (or called inside one):
- `append` gives the user's next `seq` (the caller holds the user's row lock, so a user's
  events are numbered in commit order without gaps) and stores the payload as sent;
- `after` reads a user's events after a `seq`, oldest first, a bounded page;
- `prune` deletes events older than an age, and each user's beyond the newest `keep`.

`epoch` is made once per user, with the first event, and kept: the history only starts over
when the rows are lost with it (a new database), and then so is the epoch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import CursorResult, Result, delete, func, select
from sqlalchemy.orm import Session

from tradewire.schemas import UserEventFields
from tradewire.storage.models import UserEvent, UserEventHead, utcnow

E = TypeVar("E", bound=UserEventFields)


def head(tx: Session, user_id: int) -> UserEventHead | None:
    """The user's history so far (None: no event yet)."""
    return tx.get(UserEventHead, user_id)


def append(tx: Session, user_id: int, event: str, build: Callable[[int, str], E]) -> E:
    """Store the user's next event: `build(seq, epoch)` makes its payload. The caller holds the
    user's row lock (`SELECT ... FOR UPDATE` / `BEGIN IMMEDIATE`)."""
    current = tx.get(UserEventHead, user_id)
    if current is None:
        current = UserEventHead(user_id=user_id, epoch=secrets.token_hex(8), last_seq=0)
        tx.add(current)
    current.last_seq += 1
    payload = build(current.last_seq, current.epoch)
    tx.add(
        UserEvent(
            user_id=user_id,
            seq=current.last_seq,
            event=event,
            payload=orjson.dumps(payload.wire()).decode(),
            created_at=utcnow(),
        )
    )
    return payload


def after(tx: Session, user_id: int, seq: int, limit: int) -> tuple[list[UserEvent], int | None]:
    """Up to `limit` of the user's events with a `seq` above `seq`, oldest first, and the
    oldest `seq` still kept (None: none)."""
    rows = tx.scalars(
        select(UserEvent)
        .where(UserEvent.user_id == user_id, UserEvent.seq > seq)
        .order_by(UserEvent.seq)
        .limit(limit)
    )
    oldest = tx.scalar(select(func.min(UserEvent.seq)).where(UserEvent.user_id == user_id))
    return list(rows), oldest


def prune(tx: Session, older_than: datetime, keep: int) -> int:
    """Delete events created before `older_than`, and every user's beyond the newest `keep`.
    Returns how many rows went."""
    gone = _deleted(tx.execute(delete(UserEvent).where(UserEvent.created_at < older_than)))
    for current in tx.scalars(select(UserEventHead)):
        floor = current.last_seq - keep
        if floor > 0:
            result = tx.execute(
                delete(UserEvent).where(
                    UserEvent.user_id == current.user_id, UserEvent.seq <= floor
                )
            )
            gone += _deleted(result)
    return gone


def _deleted(result: Result[Any]) -> int:
    """Rows a DELETE removed."""
    return cast(CursorResult[Any], result).rowcount or 0
