"""The dependency ranges in pyproject.toml are true: each runtime dependency's floor is the
(lowest) version of it in uv.lock, which is what the tests run on. So the lowest versions a
resolver may pick (`uv sync --resolution lowest-direct`) are the tested ones, and a lock upgrade
that leaves a floor behind fails here until the floor follows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_every_runtime_dependency_floor_is_the_locked_and_tested_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked: dict[str, str] = {}  # the lowest locked version (a lock may fork by Python version)
    for package in lock["package"]:
        name, version = package["name"], package["version"]
        if name not in locked or _key(version) < _key(locked[name]):
            locked[name] = version
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]+\])?>=([0-9][0-9.]*)", requirement)
        assert match, f"{requirement}: a dependency is written name>=floor"
        name = match.group(1).lower().replace("_", "-")
        assert locked.get(name) == match.group(3), (
            f"{requirement}: uv.lock has {name} {locked.get(name)}; set the floor to it"
        )


def test_the_service_does_not_depend_on_python_socketio() -> None:
    """The transport is tradewire's own; python-socketio is only a client in the tests."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "socketio" in d]
    sources = (ROOT / "src").rglob("*.py")
    imports = [
        path
        for path in sources
        if re.search(r"^\s*(import|from)\s+(socketio|engineio)\b", path.read_text(), re.M)
    ]
    assert imports == []
