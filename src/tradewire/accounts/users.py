"""Registration, password checks and the demo account."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tradewire.accounts.passwords import hash_password, verify_password
from tradewire.errors import Conflict, NotFound, Unauthorized
from tradewire.market.symbols import UNIVERSE, SymbolInfo
from tradewire.storage.database import Database
from tradewire.storage.models import User, WatchlistEntry

log = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_WATCHLIST = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "JPM")
DEFAULT_WATCHLIST_SIZE = 6


def default_watchlist(traded: Sequence[SymbolInfo]) -> tuple[str, ...]:
    """A new account's watchlist: the first `DEFAULT_WATCHLIST_SIZE` symbols traded here (the
    universe's best-known names first, see `market/symbols.py`)."""
    return tuple(info.symbol for info in traded[:DEFAULT_WATCHLIST_SIZE])


UNIVERSE_WATCHLIST = default_watchlist(UNIVERSE)


class UserService:
    def __init__(
        self,
        db: Database,
        starting_cash: Decimal,
        *,
        default_watchlist: Sequence[str] = UNIVERSE_WATCHLIST,
    ) -> None:
        """`default_watchlist`: what `register` gives an account when not told otherwise; by
        default the universe's first symbols (the service passes the ones it trades)."""
        self._db = db
        self.starting_cash = starting_cash
        self.default_watchlist = tuple(default_watchlist)

    async def register(
        self,
        username: str,
        password: str,
        *,
        role: str = "user",
        watchlist: Sequence[str] | None = None,
    ) -> User:
        """A new account with `STARTING_CASH` and `watchlist` (None: `default_watchlist`).
        Raises `Conflict` (USERNAME_TAKEN) when the name exists."""
        if watchlist is None:
            watchlist = self.default_watchlist
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
