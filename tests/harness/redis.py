"""A throwaway redis-server on a free loopback port, for tests that need real Redis."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from tests.harness.binaries import require_executable
from tests.harness.ports import free_port
from tests.harness.process import LoggedProcess
from tests.harness.server import ThrowawayServer
from tests.harness.waiting import wait_until_sync


class RedisServer(ThrowawayServer):
    """`redis-server` on 127.0.0.1 with no persistence (`--save '' --appendonly no`).

    Data lives only in memory: `stop()`/`restart()` lose every key, like a Redis that crashed or
    was replaced. The port stays the same across restarts, so clients can reconnect to `url`.
    Raises `ServiceUnavailable` on construction when redis-server is not installed.
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 10.0) -> None:
        executable = require_executable(
            "redis-server", group="db", debian_package="redis-server", extra_dirs=("/usr/bin",)
        )
        self.port = port if port is not None else free_port()
        self.startup_timeout = startup_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="tradewire-redis-"))
        argv: list[str | Path] = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = LoggedProcess(
            argv,
            name=f"redis-server on 127.0.0.1:{self.port}",
            log_path=self._dir / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process.running

    def log_text(self) -> str:
        return self._process.log_text()

    def _answers_ping(self) -> bool:
        self._process.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start and wait until it answers PING (`ProcessExited` if it dies, e.g. port taken)."""
        self._process.start()
        try:
            wait_until_sync(
                self._answers_ping,
                timeout=self.startup_timeout,
                what=f"redis-server on 127.0.0.1:{self.port} to answer PING",
            )
        except TimeoutError as exc:
            self._process.kill()
            raise TimeoutError(f"{exc}\n{self._process.log_tail()}") from None

    def stop(self) -> None:
        """Shut down (SIGTERM) and wait for the exit; the port is free afterwards."""
        self._process.stop()

    def restart(self) -> None:
        """Stop and start again on the same port, with an empty dataset."""
        if self._process.running:
            self.stop()
        self.start()
