"""Accounts and sessions over the REST API, on both databases."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from tests.conftest import make_settings
from tests.harness.waiting import clear_of_a_minute_edge
from tests.support import DEMO, LiveServer
from tradewire.accounts.sessions import token_hash
from tradewire.storage.models import Session, User, utcnow


async def test_register_login_me_logout(db_server: LiveServer) -> None:
    async with db_server.http() as http:
        r = await http.post(
            "/api/auth/register", json={"username": "Alice", "password": "s3cret-pass"}
        )
        assert r.status_code == 201
        assert r.json() == {"userId": r.json()["userId"], "username": "alice", "role": "user"}

        r = await http.post(
            "/api/auth/login", json={"username": "alice", "password": "s3cret-pass"}
        )
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"sessionId", "userId", "expiresAt"}
        cookie = r.headers["set-cookie"]
        assert "tw_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie

        assert (await http.get("/api/me")).json()["username"] == "alice"  # via the cookie
        http.cookies.clear()
        bearer = {"Authorization": f"Bearer {body['sessionId']}"}
        assert (await http.get("/api/me", headers=bearer)).status_code == 200

        assert (await http.post("/api/auth/logout", headers=bearer)).status_code == 204
        r = await http.get("/api/me", headers=bearer)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_wrong_username_and_wrong_password_answer_alike(db_server: LiveServer) -> None:
    async with db_server.http() as http:
        wrong_pass = await http.post(
            "/api/auth/login", json={"username": "demo", "password": "not-the-password"}
        )
        no_user = await http.post(
            "/api/auth/login", json={"username": "nobody", "password": "not-the-password"}
        )
    assert wrong_pass.status_code == no_user.status_code == 401
    assert wrong_pass.json() == no_user.json()


async def test_duplicate_username_is_a_conflict(server: LiveServer) -> None:
    async with server.http() as http:
        r = await http.post(
            "/api/auth/register", json={"username": "DEMO", "password": "whatever1"}
        )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "USERNAME_TAKEN"


async def test_secrets_are_stored_only_as_hashes(server: LiveServer) -> None:
    token = await server.login()
    async with server.services.db.reader() as tx:
        user = await tx.scalar(select(User).where(User.username == "demo"))
        hashes = list(await tx.scalars(select(Session.token_hash)))
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert DEMO["password"] not in user.password_hash
    assert token not in hashes and token_hash(token) in hashes


async def test_expired_and_revoked_sessions_are_refused(server: LiveServer) -> None:
    expired, revoked = await server.login(), await server.login()
    async with server.services.db.transaction() as tx:
        await tx.execute(
            update(Session)
            .where(Session.token_hash == token_hash(expired))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    async with server.http(revoked) as http:
        assert (await http.post("/api/auth/logout")).status_code == 204
    for token in (expired, revoked, "x" * 43, "short"):
        async with server.http() as http:
            r = await http.get("/api/portfolio", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token


async def test_the_session_check_does_not_wait_for_the_write_lock(
    server: LiveServer, tmp_path: Path
) -> None:
    """The session check reads SQLite on the event loop (`Database.fetch_one`): in WAL mode it
    never waits for a writer, so requests and connects are checked while another connection
    holds the write lock, and it sees only what was committed."""
    token, pending = await server.login(), "p" * 43
    lock = sqlite3.connect(tmp_path / "data" / "tradewire.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        lock.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
            " SELECT ?, user_id, created_at, expires_at FROM sessions LIMIT 1",
            (token_hash(pending),),
        )
        async with server.http(token) as http:
            me = await asyncio.wait_for(http.get("/api/me"), 5)
            assert me.status_code == 200 and me.json()["username"] == DEMO["username"]
            r = await http.get("/api/me", headers={"Authorization": f"Bearer {pending}"})
            assert r.status_code == 401  # not committed: not a session yet
    finally:
        lock.rollback()
        lock.close()


async def test_login_is_rate_limited_per_address(tmp_path: Path) -> None:
    limited = make_settings(tmp_path, auth_rate_limit="3/minute")
    async with LiveServer(limited) as live, live.http() as http:
        await clear_of_a_minute_edge()
        codes = [
            (
                await http.post(
                    "/api/auth/login", json={"username": "demo", "password": "wrong-password"}
                )
            ).status_code
            for _ in range(4)
        ]
        r = await http.post("/api/auth/register", json={"username": "eve", "password": "x" * 9})
    assert codes == [401, 401, 401, 429]
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1


async def test_register_validates_input(server: LiveServer) -> None:
    async with server.http() as http:
        for body in (
            {"username": "ab", "password": "long-enough"},
            {"username": "bob", "password": "short"},
            {"username": "bad name!", "password": "long-enough"},
            {"username": "bob"},
            {"username": 5, "password": "long-enough"},
        ):
            r = await http.post("/api/auth/register", json=body)
            assert r.status_code == 422, body
            assert r.json()["error"]["code"] == "VALIDATION_ERROR"
