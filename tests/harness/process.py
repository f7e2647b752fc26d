"""Child processes with a log file: the generic `LoggedProcess`, and `ServiceProcess`, which runs
the tradewire service itself as a real subprocess (`python -m tradewire serve`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from tests.harness.ports import free_port
from tests.harness.waiting import wait_until_sync

LOG_TAIL_LINES = 40


class ProcessExited(RuntimeError):
    """A server process exited while the harness was waiting for it to become ready."""


class LoggedProcess:
    """A child process with stdout and stderr appended to `log_path`, restartable after it stops.

    Every start writes a marker line with the command into the log first, so the log of a
    restarted server keeps its earlier runs. `user` (only as root) runs the child as that
    system user without a wrapper process, so signals reach the server itself.
    """

    def __init__(
        self,
        argv: Sequence[str | Path],
        *,
        name: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.name = name
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._user = user
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log_path.open("ab") as log:
            log.write(f"--- starting {self.name}: {shlex.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                user=self._user,
                group=self._user,
                extra_groups=[] if self._user is not None else None,
            )

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last run (negative: killed by that signal); None while running."""
        return self._popen.poll() if self._popen is not None else None

    def check_alive(self) -> None:
        """Raise `ProcessExited`, with the log tail, if the process has exited."""
        code = self.returncode
        if code is not None:
            raise ProcessExited(f"{self.name} exited with code {code}\n{self.log_tail()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 10.0) -> int:
        """Send `sig` and wait for the exit; return the exit code.

        If the process is still alive after `timeout` seconds it is killed (SIGKILL) and
        `TimeoutError` is raised with the log tail: a server that ignores its stop signal is a bug
        the test should see. Calling it on an already exited process returns its exit code.
        """
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        if self._popen.poll() is None:
            self._popen.send_signal(sig)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {self.name} to exit on {sig.name}\n"
                    f"{self.log_tail()}"
                ) from None
        return self._popen.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


def _inherited_environment() -> dict[str, str]:
    """os.environ without the service's own settings, so a developer's shell (an exported
    DATABASE_URL or REDIS_URL) cannot leak into a test; the test passes what it means."""
    try:
        from tradewire.settings import Settings
    except ImportError:  # pragma: no cover - the settings module is part of the product
        return dict(os.environ)
    setting_names = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in setting_names}


class ServiceProcess:
    """The tradewire service in a real subprocess: `python -m tradewire serve` on 127.0.0.1.

    `env` goes on top of the current environment (less any inherited tradewire setting, see
    `_inherited_environment`); DATA_DIR defaults to a fresh temporary directory that survives
    `restart()` and is removed on close. The process runs in its own temporary working directory,
    so a developer's `.env` file is not read. COVERAGE_PROCESS_START passes through from the
    environment, for subprocess coverage.

    Used as a context manager it starts on enter and always stops on exit; when the block failed,
    the log tail is printed (pytest shows it with the failure).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        port: int | None = None,
        extra_args: Sequence[str] = (),
        *,
        log_level: str = "info",
        startup_timeout: float = 30.0,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.startup_timeout = startup_timeout
        self._workdir = Path(tempfile.mkdtemp(prefix="tradewire-service-"))
        child_env = _inherited_environment()
        child_env.update(env)
        if "DATA_DIR" not in env:
            data_dir = self._workdir / "data"
            data_dir.mkdir()
            child_env["DATA_DIR"] = str(data_dir)
        if "COVERAGE_PROCESS_START" in os.environ:
            child_env.setdefault("COVERAGE_PROCESS_START", os.environ["COVERAGE_PROCESS_START"])
        child_env["PYTHONUNBUFFERED"] = "1"
        self.env = child_env
        argv = [
            sys.executable, "-m", "tradewire", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", log_level,
            *extra_args,
        ]  # fmt: skip
        self._process = LoggedProcess(
            argv,
            name=f"tradewire on 127.0.0.1:{self.port}",
            log_path=self._workdir / "service.log",
            env=child_env,
            cwd=self._workdir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    def log_text(self) -> str:
        """Everything the service printed so far, across restarts."""
        return self._process.log_text()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return self._process.log_tail(lines)

    def start(self) -> None:
        """Start and wait until GET /healthz answers 200 (up to `startup_timeout` seconds).

        Raises `ProcessExited` at once if the service exits during start-up, or `TimeoutError`
        (after killing it) if it never gets healthy; both carry the log tail.
        """
        self._process.start()
        with httpx.Client(trust_env=False, timeout=2.0) as client:

            def healthy() -> bool:
                self._process.check_alive()
                try:
                    return client.get(f"{self.url}/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            try:
                wait_until_sync(
                    healthy,
                    timeout=self.startup_timeout,
                    what=f"tradewire at {self.url} to answer GET /healthz with 200",
                    interval=0.05,
                )
            except TimeoutError as exc:
                self._process.kill()
                raise TimeoutError(f"{exc}\n{self._process.log_tail()}") from None

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, wait for a graceful exit, return the exit code (TimeoutError if it hangs)."""
        return self._process.stop(signal.SIGTERM, timeout=timeout)

    def kill(self) -> int:
        """SIGKILL: a crash with no chance to clean up. Returns the exit code (-9)."""
        return self._process.kill()

    def restart(self) -> None:
        """Stop gracefully if running, then start again on the same port with the same DATA_DIR."""
        if self._process.running:
            self.terminate()
        self.start()

    def close(self) -> None:
        try:
            if self._process.running:
                self.terminate()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> ServiceProcess:
        try:
            self.start()
        except BaseException:
            if self._process.running:
                self.kill()
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        print(f"\n{self._process.name} log:\n{self.log_tail()}", file=sys.stderr)
        try:
            if self._process.running:
                self.kill()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)
