"""Request dependencies: the service container and the authenticated session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from tradewire.accounts.sessions import SessionInfo
from tradewire.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from tradewire.app import Services

SESSION_COOKIE = "tw_session"


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def session_token(request: Request) -> str | None:
    """The session token from `Authorization: Bearer ...`, else from the session cookie."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_session(request: Request) -> SessionInfo:
    info = await services(request).sessions.verify(session_token(request))
    if info is None:
        raise Unauthorized("Log in to continue: the session is missing, expired or revoked.")
    request.state.user_id = info.user_id
    return info


async def optional_session(request: Request) -> SessionInfo | None:
    """The session when the request carries a valid one, else None (no 401)."""
    info = await services(request).sessions.verify(session_token(request))
    if info is not None:
        request.state.user_id = info.user_id
    return info


async def admin_session(request: Request) -> SessionInfo:
    """A session of an administrator (`role == "admin"`: `tradewire user create --admin`, and
    the seeded demo account); 401 without a session, 403 for everyone else."""
    info = await current_session(request)
    if info.role != "admin":
        raise Forbidden("This is for administrators.")
    return info


ServicesDep = Annotated["Services", Depends(services)]
SessionDep = Annotated[SessionInfo, Depends(current_session)]
OptionalSessionDep = Annotated[SessionInfo | None, Depends(optional_session)]
AdminDep = Annotated[SessionInfo, Depends(admin_session)]
