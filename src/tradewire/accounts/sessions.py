"""Login sessions: random 256-bit tokens, stored only as their SHA-256, with expiry and revocation.

`SessionStore.verify` is what REST authentication and the Socket.IO handshake call. Revocation
(logout) is announced with the `session:revoked` event (a `SessionInfo`) so that the real-time
layer can disconnect that session's live sockets at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyee.asyncio import AsyncIOEventEmitter
from sqlalchemy import bindparam, select, update

from tradewire.storage.database import Database
from tradewire.storage.models import Session, User, utcnow

SESSION_REVOKED = "session:revoked"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_key: str
    """The token's hash: safe to log, to key rooms with and to pass between instances."""
    user_id: int
    username: str
    role: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(token: object) -> bool:
    return isinstance(token, str) and 20 <= len(token) <= 128 and token.isascii()


_VERIFY = (
    select(Session.revoked_at, Session.expires_at, User.id, User.username, User.role)
    .join(User, User.id == Session.user_id)
    .where(Session.token_hash == bindparam("key"))
)
"""A session's state and its user, by token hash: built once, a plain Core row (`verify` runs
for every REST request and every socket connect)."""


class SessionStore(AsyncIOEventEmitter):
    def __init__(self, db: Database, ttl_seconds: int) -> None:
        super().__init__()
        self._db = db
        self.ttl = timedelta(seconds=ttl_seconds)

    async def create(self, user: User) -> tuple[str, SessionInfo]:
        """Open a session for `user`; returns the token (shown to the client once) and its info."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = Session(
            token_hash=token_hash(token), user_id=user.id, created_at=now, expires_at=now + self.ttl
        )
        async with self._db.transaction() as tx:
            tx.add(row)
        return token, SessionInfo(row.token_hash, user.id, user.username, user.role, row.expires_at)

    async def verify(self, token: object) -> SessionInfo | None:
        """The live session for `token`, or None when it is unknown, expired, revoked or not
        even a plausible token. Never raises for client input."""
        if not looks_like_token(token):
            return None
        assert isinstance(token, str)
        key = token_hash(token)
        found = await self._db.fetch_one(_VERIFY, {"key": key})
        if found is None:
            return None
        if found.revoked_at is not None or found.expires_at <= utcnow():
            return None
        return SessionInfo(key, found.id, found.username, found.role, found.expires_at)

    async def revoke(self, token: object) -> SessionInfo | None:
        """Revoke the session of `token` and announce it. Returns what was revoked."""
        info = await self.verify(token)
        if info is None:
            return None
        await self.revoke_key(info)
        return info

    async def revoke_key(self, info: SessionInfo) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                update(Session)
                .where(Session.token_hash == info.session_key)
                .values(revoked_at=utcnow())
            )
        self.emit(SESSION_REVOKED, info)
