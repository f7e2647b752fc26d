"""Accounts and sessions: register, login, logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from limits import parse

from tradewire.api.deps import SESSION_COOKIE, ServicesDep, SessionDep, session_token
from tradewire.errors import RateLimited
from tradewire.schemas import Credentials, ErrorResponse, LoginOut, UserOut

router = APIRouter(prefix="/api", tags=["accounts"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
}


async def limit_auth(request: Request, services: ServicesDep) -> None:
    """`AUTH_RATE_LIMIT` per client address, shared by login and register."""
    client = request.client.host if request.client else "unknown"
    item = parse(services.settings.auth_rate_limit)
    retry_ms = await services.limiter.hit(item, "auth", client)
    if retry_ms is not None:
        raise RateLimited("Too many attempts; try again later.", retry_after_ms=retry_ms)


@router.post("/auth/register", status_code=201, response_model=UserOut, responses=ERRORS)
async def register(body: Credentials, request: Request, services: ServicesDep) -> UserOut:
    await limit_auth(request, services)
    user = await services.users.register(body.username, body.password)
    return UserOut(user_id=user.id, username=user.username, role=user.role)


@router.post("/auth/login", response_model=LoginOut, responses=ERRORS)
async def login(
    body: Credentials, request: Request, response: Response, services: ServicesDep
) -> LoginOut:
    await limit_auth(request, services)
    user = await services.users.authenticate(body.username, body.password)
    token, info = await services.sessions.create(user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=services.settings.session_ttl,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
        path="/",
    )
    return LoginOut(session_id=token, user_id=user.id, expires_at=info.expires_at)


@router.post("/auth/logout", status_code=204, responses=ERRORS)
async def logout(request: Request, services: ServicesDep) -> Response:
    """Revoke the session (its live sockets are disconnected at once) and clear the cookie.
    Logging out without a valid session is not an error."""
    await services.sessions.revoke(session_token(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me", response_model=UserOut, responses=ERRORS)
async def me(session: SessionDep) -> UserOut:
    return UserOut(user_id=session.user_id, username=session.username, role=session.role)
