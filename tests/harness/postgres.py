"""A throwaway PostgreSQL cluster on a free loopback port, for tests that need real PostgreSQL."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.harness.binaries import ServiceUnavailable, install_hint
from tests.harness.ports import free_port
from tests.harness.process import LoggedProcess
from tests.harness.server import ThrowawayServer
from tests.harness.waiting import wait_until_sync

DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = install_hint("db", "postgresql")
SUPERUSER = "postgres"
# Durability off: a test cluster is thrown away, and these make commits and CREATE DATABASE cheap.
SPEED_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _version_key(version_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version_dir.name))


def find_postgres_bindir(root: Path = DEBIAN_POSTGRES_ROOT, search_path: str | None = None) -> Path:
    """The `bin` directory of the newest PostgreSQL server installed.

    Looks in Debian's `/usr/lib/postgresql/<version>/bin` first, then for `initdb` and
    `postgres` together on PATH (`search_path`, default $PATH). Raises `ServiceUnavailable`.
    """
    versions = [d for d in root.glob("*") if (d / "bin" / "postgres").is_file()]
    if versions:
        return max(versions, key=_version_key) / "bin"
    initdb = shutil.which("initdb", path=search_path)
    if initdb is not None:
        bindir = Path(initdb).resolve().parent
        if (bindir / "postgres").is_file():
            return bindir
    raise ServiceUnavailable(f"no PostgreSQL server binaries (initdb, postgres): {INSTALL_HINT}")


class PostgresServer(ThrowawayServer):
    """A fresh PostgreSQL cluster (initdb into a temporary directory) on 127.0.0.1.

    Superuser `postgres` with trust authentication on loopback; listens on TCP 127.0.0.1 only,
    and on a Unix socket inside its own directory. Creates `database` on start; `create_database`
    makes more, each an empty copy of template0. Durability is off (`SPEED_SETTINGS`).

    As root the server runs as the `postgres` system user (PostgreSQL refuses root), which the
    Debian package creates. Raises `ServiceUnavailable` on construction when the binaries or that
    user are missing. Stopping is an immediate shutdown (SIGQUIT, what `pg_ctl stop -m immediate`
    sends), and the directory is removed.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        database: str = "tradewire_test",
        startup_timeout: float = 30.0,
        bindir: Path | None = None,
    ) -> None:
        self.bindir = bindir if bindir is not None else find_postgres_bindir()
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise ServiceUnavailable(
                    f"running as root, PostgreSQL needs the `{SUPERUSER}` system user, which "
                    f"its Debian package creates: {INSTALL_HINT}"
                ) from None
            self._user = SUPERUSER
        self.port = port if port is not None else free_port()
        self.database = _checked_name(database)
        self.startup_timeout = startup_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="tradewire-pg-"))
        if self._user is not None:
            shutil.chown(self._dir, self._user, self._user)
        self._data = self._dir / "data"
        argv: list[str | Path] = [self.bindir / "postgres", "-D", self._data, "-p", str(self.port)]
        for setting in ("listen_addresses=127.0.0.1", f"unix_socket_directories={self._dir}"):
            argv += ["-c", setting]
        for setting in SPEED_SETTINGS:
            argv += ["-c", setting]
        self._process = LoggedProcess(
            argv,
            name=f"PostgreSQL on 127.0.0.1:{self.port}",
            log_path=self._dir / "postgres.log",
            cwd=self._dir,
            user=self._user,
        )

    # --- addresses ---

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (asyncpg driver) of `database` on this server."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn_for(self, database: str) -> str:
        """libpq-style DSN of `database`, for `asyncpg.connect` or psql."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    @property
    def running(self) -> bool:
        return self._process.running

    def log_text(self) -> str:
        return self._process.log_text()

    # --- lifecycle ---

    def start(self) -> None:
        """initdb (first start only), start the server, wait until it accepts connections, and
        create `database` if it does not exist yet."""
        if not self._data.exists():
            self._initdb()
        self._process.start()
        try:
            wait_until_sync(
                self._accepts_connections,
                timeout=self.startup_timeout,
                what=f"PostgreSQL on 127.0.0.1:{self.port} to accept connections (pg_isready)",
                interval=0.05,
            )
        except TimeoutError as exc:
            self._process.kill()
            raise TimeoutError(f"{exc}\n{self._process.log_tail()}") from None
        if not self._database_exists(self.database):
            self.create_database(self.database)

    def stop(self) -> None:
        self._process.stop(signal.SIGQUIT)

    # --- databases ---

    def create_database(self, name: str) -> str:
        """Create an empty database (a copy of template0) and return its SQLAlchemy URL."""
        self.sql(f'CREATE DATABASE "{_checked_name(name)}" TEMPLATE template0')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting anyone still connected to it; no error if it is gone."""
        self.sql(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql as the superuser; return its unaligned output."""
        argv: list[str | Path] = [
            self.bindir / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database,
            "-c", statement,
        ]  # fmt: skip
        result = self._run(argv, what=f"psql {statement!r}")
        return result.stdout.strip()

    # --- internals ---

    def _database_exists(self, name: str) -> bool:
        return self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{_checked_name(name)}'") == "1"

    def _accepts_connections(self) -> bool:
        self._process.check_alive()
        argv: list[str | Path] = [
            self.bindir / "pg_isready", "-q", "-t", "1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
        ]  # fmt: skip
        probe = subprocess.run(argv, env=_client_environment(), check=False)
        return probe.returncode == 0

    def _initdb(self) -> None:
        argv: list[str | Path] = [
            self.bindir / "initdb", "-D", self._data, "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        self._run(argv, what="initdb", as_server_user=True)

    def _run(
        self, argv: Sequence[Path | str], *, what: str, as_server_user: bool = False
    ) -> subprocess.CompletedProcess[str]:
        user = self._user if as_server_user else None
        result = subprocess.run(
            [str(arg) for arg in argv],
            capture_output=True,
            text=True,
            env=_client_environment(),
            cwd=self._dir,
            check=False,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed with exit code {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result


def _checked_name(name: str) -> str:
    """`name` if it is a plain lower-case identifier, safe to quote into SQL; else ValueError."""
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database name must match {_DATABASE_NAME.pattern}: {name!r}")
    return name


def _client_environment() -> dict[str, str]:
    """os.environ without libpq's PG* variables, so a developer's PGHOST or PGPASSWORD cannot
    redirect the harness's psql and pg_isready calls."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}
