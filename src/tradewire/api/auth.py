"""Accounts and sessions: register, login, logout, me."""

from __future__ import annotations

import ipaddress
from typing import Literal

from fastapi import APIRouter, Request, Response
from limits import parse

from tradewire.api.deps import SESSION_COOKIE, ServicesDep, SessionDep, session_token
from tradewire.errors import RateLimited
from tradewire.schemas import Credentials, ErrorResponse, LoginOut, UserOut

router = APIRouter(prefix="/api", tags=["accounts"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "CSRF_ORIGIN_MISMATCH (cookie writes)"},
    413: {"model": ErrorResponse},
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


def cookie_secure(request: Request, setting: bool | Literal["auto"]) -> bool:
    """`COOKIE_SECURE`: forced on or off, or `auto`: Secure unless the request came over plain
    http to a loopback address (127.0.0.0/8, ::1, localhost), as `make run` and the tests do.
    Behind a TLS-terminating proxy the scheme is the proxy's `X-Forwarded-Proto` when the
    proxy is trusted (`FORWARDED_ALLOW_IPS`); the public host name makes it Secure anyway."""
    if isinstance(setting, bool):
        return setting
    if request.url.scheme == "https":
        return True
    host = request.url.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def set_session_cookie(
    response: Response, request: Request, services: ServicesDep, token: str, max_age: int
) -> None:
    """The session cookie, with the same attributes on login and on logout (a browser only
    replaces a cookie of the same name, path and domain): HttpOnly, SameSite=Lax, Path=/,
    Secure per `cookie_secure`."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        expires=0 if max_age == 0 else None,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, services.settings.cookie_secure),
        path="/",
    )


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
    set_session_cookie(response, request, services, token, services.settings.session_ttl)
    return LoginOut(session_id=token, user_id=user.id, expires_at=info.expires_at)


@router.post("/auth/logout", status_code=204, responses=ERRORS)
async def logout(request: Request, services: ServicesDep) -> Response:
    """Revoke the session (its live sockets are disconnected at once) and clear the cookie.
    Logging out without a valid session is not an error."""
    await services.sessions.revoke(session_token(request))
    response = Response(status_code=204)
    set_session_cookie(response, request, services, "", 0)  # expires it at once
    return response


@router.get("/me", response_model=UserOut, responses=ERRORS)
async def me(session: SessionDep) -> UserOut:
    return UserOut(user_id=session.user_id, username=session.username, role=session.role)
