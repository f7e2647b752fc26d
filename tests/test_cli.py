"""The `tradewire` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tradewire.cli import main


def run_cli(
    tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "tradewire", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_db_upgrade_and_user_create(tmp_path: Path) -> None:
    upgraded = run_cli(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    assert (tmp_path / "data" / "tradewire.db").exists()

    created = run_cli(
        tmp_path, "user", "create", "Carol", "--password-stdin", stdin="correct-horse\n"
    )
    assert created.returncode == 0, created.stderr
    assert "created user carol" in created.stdout

    again = run_cli(tmp_path, "user", "create", "carol", "--password-stdin", stdin="other-pass\n")
    assert again.returncode != 0 and "taken" in again.stderr

    weak = run_cli(tmp_path, "user", "create", "dave", "--password-stdin", stdin="short\n")
    assert weak.returncode != 0 and "at least 8" in weak.stderr


def test_user_create_prompts_for_the_password(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["user", "create", "erin", "--admin"], input="long-password\nlong-password\n"
    )
    assert result.exit_code == 0, result.output
    assert "role admin" in result.output


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "db", "user"):
        assert command in result.output
