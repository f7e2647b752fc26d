"""Cross-site request forgery: unsafe requests that authenticate by cookie must come from an
allowed origin.

The session cookie is `SameSite=Lax`, so browsers already leave it off cross-site `POST`s; this
check also covers same-site but cross-origin pages (a sibling subdomain) and browsers that
ignore SameSite. A `POST`, `PUT`, `PATCH` or `DELETE` that carries the `tw_session` cookie and
no `Authorization: Bearer` header must name its origin in `Origin` (or, failing that,
`Referer`): the service's own host (the request's `Host`), or one of `CORS_ORIGINS` and the
service's own addresses. Browsers send `Origin` on every such request, so a cookie-authenticated
write without either header is refused too. Requests that authenticate with the bearer header
are not subject to it: a page on another origin cannot make a browser add that header.
Refusals are 403 `CSRF_ORIGIN_MISMATCH`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tradewire.api.deps import SESSION_COOKIE
from tradewire.api.errors import error_response

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_CODE = "CSRF_ORIGIN_MISMATCH"


def origin_allowed(origin: str, host: str, allowed: Iterable[str]) -> bool:
    """Whether a browser origin (`scheme://host[:port]`) may act here: listed, or the same
    host and port the request was sent to."""
    if origin in allowed:
        return True
    netloc = urlsplit(origin).netloc
    return bool(netloc) and netloc == host


def request_origin(request: Request) -> str | None:
    """The request's `Origin`, else the origin part of its `Referer`, else None."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.scheme and referer.netloc:
        return f"{referer.scheme}://{referer.netloc}"
    return None


def cookie_authenticated(request: Request) -> bool:
    """The request would authenticate by the session cookie (it sends no bearer token)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return False
    return SESSION_COOKIE in request.cookies


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            if cookie_authenticated(request):
                refusal = self.refusal(request)
                if refusal is not None:
                    log.warning(
                        "cross-site request refused",
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "origin": (request.headers.get("origin") or "")[:100],
                        },
                    )
                    await error_response(403, CSRF_CODE, refusal)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        origin = request_origin(request)
        if origin is None:
            return (
                "A request authenticated by the session cookie must send Origin (or Referer);"
                " or authenticate with Authorization: Bearer."
            )
        if not origin_allowed(origin, request.headers.get("host", ""), self.allowed):
            return "This origin may not act with the session cookie."
        return None
