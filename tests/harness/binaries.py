"""Finding the server programs the tests need, or saying how to install them."""

from __future__ import annotations

import shutil
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    """A server program the tests need is not installed on this machine.

    The message says what to install. The pytest fixtures turn it into a skip on a developer's
    machine and into a failure under CI (`CI` set), where a missing server is a broken setup.
    """


def install_hint(group: str, debian_package: str) -> str:
    return (
        f"run `scripts/bootstrap-system {group}` as root "
        f"(or: apt-get install --no-install-recommends {debian_package})"
    )


def require_executable(
    name: str, *, group: str, debian_package: str, extra_dirs: tuple[str, ...] = ()
) -> Path:
    """Absolute path of the program `name`, searched on PATH and then in `extra_dirs`.

    Raises `ServiceUnavailable` with the install hint when it is nowhere.
    """
    found = shutil.which(name)
    if found is None:
        for directory in extra_dirs:
            found = shutil.which(name, path=directory)
            if found is not None:
                break
    if found is None:
        raise ServiceUnavailable(
            f"`{name}` is not installed: {install_hint(group, debian_package)}"
        )
    return Path(found)
