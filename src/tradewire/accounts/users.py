"""Registration, password checks and the demo account."""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tradewire.accounts.passwords import hash_password, verify_password
from tradewire.errors import Conflict, NotFound, Unauthorized
from tradewire.storage.database import Database
from tradewire.storage.models import User, WatchlistEntry

log = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_WATCHLIST = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "JPM")


class UserService:
    def __init__(self, db: Database, starting_cash: Decimal) -> None:
        self._db = db
        self.starting_cash = starting_cash

    async def register(
        self, username: str, password: str, *, role: str = "user", watchlist: tuple[str, ...] = ()
    ) -> User:
        user = User(
            username=username.lower(),
            password_hash=await hash_password(password),
            role=role,
            cash=self.starting_cash,
        )
        try:
            async with self._db.transaction() as tx:
                tx.add(user)
                await tx.flush()
                tx.add_all(
                    WatchlistEntry(user_id=user.id, symbol=s, position=i)
                    for i, s in enumerate(watchlist)
                )
        except IntegrityError:
            raise Conflict("That username is taken.", code="USERNAME_TAKEN") from None
        log.info("user registered", extra={"user_id": user.id})
        return user

    async def authenticate(self, username: str, password: str) -> User:
        """The user, or `Unauthorized` with one message for wrong username and wrong password."""
        user = await self.by_username(username)
        ok = await verify_password(user.password_hash if user else None, password)
        if user is None or not ok:
            raise Unauthorized("Wrong username or password.", code="INVALID_CREDENTIALS")
        return user

    async def by_username(self, username: str) -> User | None:
        async with self._db.reader() as tx:
            found: User | None = await tx.scalar(
                select(User).where(User.username == username.lower())
            )
            return found

    async def get(self, user_id: int) -> User:
        async with self._db.reader() as tx:
            user = await tx.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def ensure_demo(self) -> None:
        """Create the demo account when it does not exist (embedded default)."""
        if await self.by_username(DEMO_USERNAME) is not None:
            return
        try:
            # an admin, so a newcomer sees the ops page too
            await self.register(
                DEMO_USERNAME, DEMO_PASSWORD, role="admin", watchlist=DEMO_WATCHLIST
            )
        except Conflict:  # another instance created it first
            return
        log.info("demo account created", extra={"username": DEMO_USERNAME})
