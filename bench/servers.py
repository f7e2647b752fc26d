"""The servers under test, each started pinned to one core with a high open-files limit.

`TradewireServer` runs `uv run tradewire serve` (fresh SQLite DATA_DIR, high AUTH_RATE_LIMIT,
no handshake admission limit, LOG_LEVEL=warning); `NodeServer` runs the comparison server in
bench/node-server. Both serve REST and Socket.IO on one loopback port and are ready when
GET /healthz answers 200.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import procstat

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OPEN_FILES = 1 << 20
"""RLIMIT_NOFILE for the servers and the generator: 10,000 sockets need well over 1024."""


def raise_open_files() -> None:
    """preexec_fn: lift the soft and hard open-files limit (root may raise the hard one)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def prepare_child(nice: int) -> None:
    """preexec_fn (after setsid): open-files limit up, then the scheduling priority.

    With autogroup scheduling (the kernel default on desktops and many VMs) a nice value only
    ranks a process against its own session, and every session shares the CPU equally; so the
    new session's autogroup gets the nice value too. Negative values need root."""
    raise_open_files()
    if nice:
        os.nice(nice)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(nice))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: int, argv: list[str]) -> list[str]:
    """`argv` run on `core` only (unpinned where there is no such core or no taskset)."""
    taskset = shutil.which("taskset")
    if taskset is None or core >= (os.cpu_count() or 1):
        return argv
    return [taskset, "-c", str(core), *argv]


class Server:
    """A server process with its log in a temporary folder; a context manager."""

    kind = "server"

    def __init__(
        self,
        core: int,
        tick_rate: float,
        symbols: int,
        *,
        nice: int = 0,
        src: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.core = core
        self.nice = nice
        self.src = src
        self.extra_env = extra_env or {}
        """Settings on top of the benchmark's (a cluster's REDIS_URL and DATABASE_URL)."""
        self.tick_rate = tick_rate
        self.symbols = symbols
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.kind}-"))
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int = 0
        """The process that serves (for tradewire: the Python child of `uv run`)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def serving_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                pinned(self.core, self.argv()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
                preexec_fn=lambda: prepare_child(self.nice),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        self.pid = self.serving_pid()
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.kind} did not answer /healthz within {timeout}s\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return ""
        return "\n".join(text)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            print(f"--- {self.kind} log tail ---\n{self.tail()}", file=sys.stderr)
        self.close()


def _tradewire_setting_names() -> set[str]:
    try:
        from tradewire.settings import Settings
    except ImportError:
        return set()
    return {name.upper() for name in Settings.model_fields}


class TradewireServer(Server):
    kind = "tradewire"

    def argv(self) -> list[str]:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.src is not None:  # a snapshot of the source, on this environment's packages
            return [sys.executable, "-m", "tradewire", *serve]
        uv = shutil.which("uv")
        if uv:
            return [uv, "run", "--frozen", "--project", str(ROOT), "tradewire", *serve]
        return [sys.executable, "-m", "tradewire", *serve]

    def env(self) -> dict[str, str]:
        names = _tradewire_setting_names()
        env = {k: v for k, v in os.environ.items() if k.upper() not in names}
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        env.update(
            DATA_DIR=str(data),
            AUTH_RATE_LIMIT="1000000/minute",
            # the scenarios measure the steady state, not admission (bench/storm.py sets its own)
            SOCKET_HANDSHAKE_RATE="0",
            SESSION_TTL="86400",
            MARKET_TICK_RATE=str(self.tick_rate),
            MARKET_SYMBOLS=str(self.symbols),
            MARKET_SEED="1",
            SEED_DEMO="false",
            LOG_LEVEL="warning",
            DASHBOARD_DIR=str(self.workdir / "no-dashboard"),
            PYTHONUNBUFFERED="1",
        )
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src / "src")
        env.update(self.extra_env)
        return env

    def serving_pid(self) -> int:
        """`uv run` spawns the Python process: find it among the descendants."""
        assert self.proc is not None
        for pid in [self.proc.pid, *procstat.descendants(self.proc.pid)]:
            argv = procstat.cmdline(pid)
            if "serve" in argv and any("python" in Path(a).name for a in argv[:1]):
                return pid
        return self.proc.pid


def source_version(src: Path | None) -> str:
    """The tradewire source measured: a snapshot's commit, or the work tree's (+ "dirty")."""
    if src is not None and (src / "COMMIT").exists():
        return (src / "COMMIT").read_text().strip()
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return f"{commit} + uncommitted changes" if dirty else commit


def snapshot_source(ref: str, into: Path) -> Path:
    """`git archive REF src` into `into` (the work tree is left alone); returns `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (into / "COMMIT").write_text(commit + "\n")
    return into


def symbol_universe(count: int) -> list[dict[str, object]]:
    """tradewire's first `count` symbols with their price level and volatility, for the Node
    server's feed (the same market model and parameters)."""
    from tradewire.market.symbols import select_symbols

    return [
        {
            "symbol": s.symbol,
            "name": s.name,
            "basePrice": float(s.base_price),
            "volatility": s.volatility,
        }
        for s in select_symbols(str(count))
    ]


class NodeServer(Server):
    kind = "node"

    def argv(self) -> list[str]:
        return ["node", str(BENCH / "node-server" / "server.js")]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PORT=str(self.port),
            MARKET_TICK_RATE=str(self.tick_rate),
            MARKET_SEED="1",
            BENCH_SYMBOLS=json.dumps(symbol_universe(self.symbols)),
        )
        return env


SERVERS: dict[str, Callable[..., Server]] = {
    "tradewire": TradewireServer,
    "node": NodeServer,
}
