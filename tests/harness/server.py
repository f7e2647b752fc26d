"""What every throwaway server of the harness shares: a temporary folder, a `LoggedProcess`,
and a context manager that always cleans up."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.harness.process import LoggedProcess


class ThrowawayServer:
    """Subclasses set `_dir` and `_process` and implement `start` and `stop`."""

    _dir: Path
    _process: LoggedProcess

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The server process's pid while it was started (None before)."""
        return self._process.pid

    def close(self) -> None:
        """Stop if running, then remove the folder."""
        try:
            if self._process.running:
                self.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
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
        self.close()
