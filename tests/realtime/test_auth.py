"""Who may connect: a live session, from `auth.sessionId` or the `tw_session` cookie. Everyone
else gets the same `connect_error`, whatever was wrong, and the server logs no token."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.realtime.clients import Client, metric
from tests.realtime.conftest import Connect
from tests.support import LiveServer
from tradewire.accounts.sessions import token_hash
from tradewire.storage.models import Session, utcnow

UNAUTHORIZED = {"message": "unauthorized", "data": {"code": "UNAUTHORIZED"}}


async def expire(server: LiveServer, session_id: str) -> None:
    async with server.services.db.transaction() as tx:
        await tx.execute(
            update(Session)
            .where(Session.token_hash == token_hash(session_id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def logout(server: LiveServer, session_id: str) -> None:
    async with server.http(session_id) as http:
        assert (await http.post("/api/auth/logout")).status_code == 204


async def refusal(server: LiveServer, case: str) -> Any:
    """Attempt one kind of bad connection; return the server's connect_error data."""
    options: dict[str, Any] = {}
    if case == "no auth":
        pass
    elif case == "empty auth":
        options["auth"] = {}
    elif case == "garbage token":
        options["auth"] = {"sessionId": "not a token"}
    elif case == "token of the wrong type":
        options["auth"] = {"sessionId": 12345}
    elif case == "huge token":
        options["auth"] = {"sessionId": "x" * 10_000}
    elif case == "unknown but plausible token":
        options["auth"] = {"sessionId": secrets.token_urlsafe(32)}
    elif case == "expired session":
        session_id = await server.register("expiring")
        await expire(server, session_id)
        options["auth"] = {"sessionId": session_id}
    elif case == "revoked session":
        session_id = await server.register("leaving")
        await logout(server, session_id)
        options["auth"] = {"sessionId": session_id}
    elif case == "garbage cookie":
        options["headers"] = {"Cookie": "tw_session=garbage; other=1"}
    elif case == "malformed cookie header":
        options["headers"] = {"Cookie": '";;;=="\\'}
    elif case == "revoked session cookie":
        session_id = await server.register("leaving2")
        await logout(server, session_id)
        options["headers"] = {"Cookie": f"tw_session={session_id}"}
    else:  # pragma: no cover - a typo in the parameter list
        raise AssertionError(case)
    async with Client() as client:
        return await client.refused(server.url, **options)


REFUSALS = [
    "no auth",
    "empty auth",
    "garbage token",
    "token of the wrong type",
    "huge token",
    "unknown but plausible token",
    "expired session",
    "revoked session",
    "garbage cookie",
    "malformed cookie header",
    "revoked session cookie",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_a_connection_without_a_live_session_is_refused_as_unauthorized(
    server: LiveServer, case: str
) -> None:
    failures = metric("tradewire_socket_auth_failures_total")

    assert await refusal(server, case) == UNAUTHORIZED

    assert metric("tradewire_socket_auth_failures_total") == failures + 1
    assert server.services.realtime is not None
    assert server.services.realtime.sockets == {}


async def test_every_refusal_looks_the_same_so_it_leaks_nothing(server: LiveServer) -> None:
    answers = [await refusal(server, case) for case in REFUSALS]
    assert all(a == answers[0] for a in answers), answers


async def test_a_refusal_is_logged_without_the_token(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO, logger="tradewire"):
        async with Client() as client:
            assert await client.refused(server.url, token) == UNAUTHORIZED
    refused = [r for r in caplog.records if r.getMessage() == "connection refused: unauthorized"]
    assert len(refused) == 1
    assert refused[0].remote == "127.0.0.1"  # type: ignore[attr-defined]
    assert not any(token in r.getMessage() or token in str(vars(r)) for r in caplog.records)


async def test_a_session_id_in_auth_connects_the_socket_to_its_user(
    server: LiveServer, connect: Connect
) -> None:
    session_id = await server.login()
    client = await connect(server, session_id)
    assert client.sio.connected
    ack = await client.call("subscribe:portfolio")
    assert ack["ok"] and ack["portfolio"]["userId"] == 1


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_the_session_cookie_alone_authenticates(
    server: LiveServer, connect: Connect, transport: str
) -> None:
    """A browser on the same site sends `tw_session` (set by POST /api/auth/login) by itself."""
    alice = await server.register("alice")
    client = await connect(
        server, None, headers={"Cookie": f"theme=dark; tw_session={alice}"}, transports=[transport]
    )
    ack = await client.call("subscribe:portfolio")
    assert ack["ok"] and ack["portfolio"]["userId"] == 2


async def test_auth_session_id_wins_over_the_cookie(server: LiveServer) -> None:
    """When `auth.sessionId` is sent it is the credential, even if a valid cookie is there too:
    a stale id in the client's storage is refused, not silently replaced by the cookie."""
    good = await server.login()
    async with Client() as client:
        data = await client.refused(
            server.url, secrets.token_urlsafe(32), headers={"Cookie": f"tw_session={good}"}
        )
    assert data == UNAUTHORIZED


async def test_connections_count_in_the_gauge_by_transport(
    server: LiveServer, connect: Connect
) -> None:
    session_id = await server.login()
    ws = metric("tradewire_socket_connections", transport="websocket")
    polling = metric("tradewire_socket_connections", transport="polling")
    connects = metric("tradewire_socket_connects_total")

    await connect(server, session_id)
    await connect(server, session_id, transports=["polling"])

    assert metric("tradewire_socket_connections", transport="websocket") == ws + 1
    assert metric("tradewire_socket_connections", transport="polling") == polling + 1
    assert metric("tradewire_socket_connects_total") == connects + 2


async def test_a_server_shutting_down_refuses_new_connections(server: LiveServer) -> None:
    session_id = await server.login()
    assert server.services.realtime is not None
    await server.services.realtime.shutdown()
    async with Client() as client:
        data = await client.refused(server.url, session_id)
    assert data == {"message": "shutting_down", "data": {"code": "SHUTTING_DOWN"}}
