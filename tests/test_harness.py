"""The test harness itself: real servers start, answer, restart, and fail with useful messages."""

from __future__ import annotations

import signal
import socket
import stat
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.harness import (
    PostgresServer,
    ProcessExited,
    RedisServer,
    ServiceProcess,
    ServiceUnavailable,
    free_port,
    wait_until,
    wait_until_sync,
)
from tests.harness.fixtures import start_or_skip
from tests.harness.postgres import find_postgres_bindir

# --- waiting ---


async def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match=r"^timed out after 0.1s waiting for the moon$"):
        await wait_until(lambda: False, timeout=0.1, what="the moon")


def test_wait_until_sync_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match=r"^timed out after 0.1s waiting for the moon$"):
        wait_until_sync(lambda: False, timeout=0.1, what="the moon")


async def test_wait_until_returns_the_first_truthy_value_of_an_async_predicate() -> None:
    calls: list[int] = []

    async def third_time_lucky() -> str | None:
        calls.append(1)
        return "ready" if len(calls) == 3 else None

    assert await wait_until(third_time_lucky, timeout=5, what="three calls", interval=0) == "ready"
    assert len(calls) == 3


# --- ports ---


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- missing programs ---


def _executable(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch()
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_postgres_binaries_are_the_newest_version_installed(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        _executable(tmp_path / version / "bin" / "postgres")
    assert find_postgres_bindir(tmp_path) == tmp_path / "15" / "bin"


def test_missing_postgres_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match="scripts/bootstrap-system db"):
        find_postgres_bindir(tmp_path, search_path=str(tmp_path))


def test_missing_redis_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.harness.binaries.shutil.which", lambda *_a, **_k: None)
    with pytest.raises(ServiceUnavailable, match="scripts/bootstrap-system db"):
        RedisServer()


def _unavailable() -> RedisServer:
    raise ServiceUnavailable("redis-server is not installed: run `scripts/bootstrap-system db`")


def test_a_missing_server_fails_the_test_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="bootstrap-system"):
        start_or_skip(_unavailable)


def test_a_missing_server_skips_the_test_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="bootstrap-system"):
        start_or_skip(_unavailable)


# --- PostgreSQL ---


async def test_postgres_answers_a_query(postgres_server: PostgresServer) -> None:
    connection = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await connection.fetchval("select 1") == 1
        assert await connection.fetchval("select current_database()") == "tradewire_test"
    finally:
        await connection.close()
    assert postgres_server.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")


async def test_each_created_database_starts_empty(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("harness_first")
    postgres_server.create_database("harness_second")
    try:
        first = await asyncpg.connect(postgres_server.dsn_for("harness_first"))
        second = await asyncpg.connect(postgres_server.dsn_for("harness_second"))
        try:
            await first.execute("create table orders (id int)")
            count_tables = "select count(*) from pg_tables where schemaname = 'public'"
            assert await first.fetchval(count_tables) == 1
            assert await second.fetchval(count_tables) == 0
        finally:
            await first.close()
            # second stays open: dropping must still work (WITH FORCE) after a sloppy test
    finally:
        postgres_server.drop_database("harness_first")
        postgres_server.drop_database("harness_second")
    left = postgres_server.sql("select count(*) from pg_database where datname like 'harness_%'")
    assert left == "0"
    with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
        await second.fetchval("select 1")


async def test_postgres_url_fixture_gives_an_empty_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    assert name != postgres_server.database
    connection = await asyncpg.connect(postgres_server.dsn_for(name))
    try:
        assert (
            await connection.fetchval(
                "select count(*) from pg_class where relkind = 'r' "
                "and relnamespace = 'public'::regnamespace"
            )
            == 0
        )
    finally:
        await connection.close()


def test_postgres_stops_and_removes_its_directory() -> None:
    with PostgresServer() as server:
        data_dir = server._dir
        port = server.port
        assert data_dir.is_dir()
    assert not data_dir.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# --- Redis ---


async def test_redis_answers_again_after_a_restart_on_the_same_port() -> None:
    with RedisServer() as server:
        url = server.url
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.ping()
            await client.set("k", "v")
        finally:
            await client.aclose()

        server.restart()

        assert server.url == url
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.ping()
            assert await client.get("k") is None, "no persistence: a restart starts empty"
        finally:
            await client.aclose()


async def test_redis_url_fixture_starts_empty(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("left-behind", "1")  # the next test using redis_url must not see it
    finally:
        await client.aclose()


def test_redis_refuses_to_start_on_a_taken_port_and_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = RedisServer(port=taken.getsockname()[1])
        try:
            with pytest.raises(ProcessExited, match="exited with code") as failure:
                server.start()
            assert "Address already in use" in str(failure.value)
        finally:
            server.close()


# --- the tradewire service as a subprocess ---


def test_a_service_that_exits_during_startup_fails_fast_with_its_log() -> None:
    service = ServiceProcess(env={}, extra_args=["--no-such-option"])
    try:
        with pytest.raises(ProcessExited, match="exited with code") as failure:
            service.start()  # not TimeoutError after 30 s: the exit is noticed at once
        last_log_line = service.log_text().strip().splitlines()[-1]
        assert last_log_line in str(failure.value)
    finally:
        service.close()


def test_service_process_serves_restarts_and_stops() -> None:
    with ServiceProcess(env={"SEED_DEMO": "false"}) as service:
        assert httpx.get(f"{service.url}/healthz", trust_env=False).status_code == 200
        first_pid = service.pid
        service.restart()
        assert service.pid != first_pid
        assert httpx.get(f"{service.url}/healthz", trust_env=False).status_code == 200
        assert service.terminate() == 0, service.log_tail()
        assert not service.running
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", service.port)) != 0, "port still served"
        service.start()
        assert service.kill() == -signal.SIGKILL
