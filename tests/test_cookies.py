"""The session cookie's attributes on login and logout (api/auth.py): HttpOnly, SameSite=Lax,
Path=/, and Secure per `COOKIE_SECURE` (`auto`: unless plain http to a loopback address)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from typing import Literal

import pytest
from starlette.requests import Request

from tests.conftest import make_settings
from tests.support import DEMO, LiveServer
from tradewire.api.auth import cookie_secure
from tradewire.settings import Settings


def request_to(url_scheme: str, host: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": url_scheme,
            "path": "/api/auth/login",
            "query_string": b"",
            "headers": [(b"host", host.encode())],
            "server": ("127.0.0.1", 8000),
        }
    )


@pytest.mark.parametrize(
    ("scheme", "host", "secure"),
    [
        ("http", "127.0.0.1:8000", False),
        ("http", "127.0.0.2:8000", False),
        ("http", "localhost:8000", False),
        ("http", "[::1]:8000", False),
        ("http", "trade.example.com", True),
        ("http", "192.168.1.20:8000", True),
        ("https", "trade.example.com", True),
        ("https", "127.0.0.1:8443", True),
    ],
)
def test_auto_is_secure_except_plain_http_on_loopback(scheme: str, host: str, secure: bool) -> None:
    assert cookie_secure(request_to(scheme, host), "auto") is secure


@pytest.mark.parametrize("forced", [True, False])
def test_a_forced_setting_wins(forced: bool) -> None:
    for scheme, host in (("http", "127.0.0.1"), ("https", "trade.example.com")):
        assert cookie_secure(request_to(scheme, host), forced) is forced


def attributes(set_cookie: str) -> dict[str, str | bool]:
    morsel = SimpleCookie(set_cookie)["tw_session"]
    return {k: v for k, v in morsel.items() if v}


async def login_and_logout(
    server: LiveServer, headers: dict[str, str] | None = None
) -> tuple[dict[str, str | bool], dict[str, str | bool]]:
    async with server.http() as http:
        login = await http.post("/api/auth/login", json=DEMO, headers=headers)
        assert login.status_code == 200
        bearer = {"Authorization": f"Bearer {login.json()['sessionId']}", **(headers or {})}
        logout = await http.post("/api/auth/logout", headers=bearer)
        assert logout.status_code == 204
    return attributes(login.headers["set-cookie"]), attributes(logout.headers["set-cookie"])


def same_attributes(login: dict[str, str | bool], logout: dict[str, str | bool]) -> None:
    for name in ("httponly", "samesite", "path", "secure"):
        assert login.get(name) == logout.get(name), name
    assert logout["max-age"] == "0"


async def test_plain_http_on_loopback_is_not_secure(server: LiveServer) -> None:
    """`make run` and the tests: http://127.0.0.1, where a Secure cookie would be dropped."""
    login, logout = await login_and_logout(server)
    assert login["httponly"] is True and login["samesite"] == "lax" and login["path"] == "/"
    assert "secure" not in login
    assert login["max-age"] == "86400"
    same_attributes(login, logout)


@pytest.mark.parametrize(
    ("setting", "headers"),
    [(True, None), ("auto", {"X-Forwarded-Proto": "https"})],
    ids=["COOKIE_SECURE=true", "auto behind a trusted HTTPS proxy"],
)
async def test_secure_on_login_and_logout(
    tmp_path: Path, setting: bool | Literal["auto"], headers: dict[str, str] | None
) -> None:
    async with LiveServer(make_settings(tmp_path, cookie_secure=setting)) as server:
        login, logout = await login_and_logout(server, headers)
    assert login["secure"] is True and login["httponly"] is True and login["samesite"] == "lax"
    same_attributes(login, logout)


def test_cookie_secure_setting_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, parsed in (("auto", "auto"), ("true", True), ("false", False)):
        monkeypatch.setenv("COOKIE_SECURE", raw)
        assert Settings(_env_file=None).cookie_secure == parsed
    monkeypatch.delenv("COOKIE_SECURE")
    assert Settings(_env_file=None).cookie_secure == "auto"
