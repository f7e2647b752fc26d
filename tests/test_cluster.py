"""nginx in front of tradewire instances, and the local cluster (scripts/cluster).

- both nginx configurations (deploy/nginx/tradewire.conf as compose loads it, and as
  scripts/cluster renders it) pass `nginx -t`;
- nginx with the shipped configuration is driven in front of two stub instances: sticky keys,
  the affinity cookie, WebSocket headers, the client address, failover;
- scripts/cluster runs for real (slow): PostgreSQL, Redis, two instances and nginx, with
  python-socketio clients over WebSocket and long-polling through nginx, then SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.machinery
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from yarl import URL

from tests.harness.binaries import ServiceUnavailable, require_executable
from tests.harness.fixtures import in_ci
from tests.harness.ports import free_port
from tests.harness.postgres import find_postgres_bindir
from tests.harness.process import LoggedProcess
from tests.harness.waiting import wait_until, wait_until_sync
from tradewire.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CLUSTER_SCRIPT = ROOT / "scripts" / "cluster"
UPSTREAM_HOSTS = re.compile(r"^\s*server\s+([\w.-]+):(\d+)\b", re.M)


def cluster_script() -> ModuleType:
    """scripts/cluster as a module (it has no .py suffix), for its nginx rendering functions."""
    name = "tradewire_cluster_script"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(CLUSTER_SCRIPT))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nginx() -> Path:
    """nginx, which `make test` installs (bootstrap-system web): missing fails under CI."""
    try:
        return require_executable("nginx", group="web", debian_package="nginx",
                                  extra_dirs=("/usr/sbin",))  # fmt: skip
    except ServiceUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI is set and nginx is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


# ---------------------------------------------------------------- nginx configurations


def nginx_t(nginx: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(nginx), "-t", *argv[1:]], capture_output=True, text=True,
                          check=False)  # fmt: skip


def test_render_replaces_only_the_upstream_servers_and_the_listen_address() -> None:
    script = cluster_script()
    shipped = (DEPLOY / "nginx" / "tradewire.conf").read_text()
    rendered = script.render_tradewire_conf(
        shipped, ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"], "127.0.0.1:9999"
    )
    assert UPSTREAM_HOSTS.findall(rendered) == [("127.0.0.1", p) for p in ("7001", "7002", "7003")]
    assert "server 127.0.0.1:7001 max_fails=3 fail_timeout=10s;" in rendered
    assert re.findall(r"listen\s+([^;]+);", rendered) == ["127.0.0.1:9999"]

    def untouched(text: str) -> list[str]:
        return [line for line in text.splitlines()
                if not re.match(r"\s*(server\s+\S+:\d+|listen)\b", line)]  # fmt: skip

    assert untouched(rendered) == untouched(shipped)
    with pytest.raises(ValueError, match="upstream"):
        script.render_tradewire_conf("server { listen 80; }", ["127.0.0.1:1"], "127.0.0.1:2")


def test_cluster_nginx_config_passes_nginx_t(nginx: Path, tmp_path: Path) -> None:
    script = cluster_script()
    prefix = tmp_path / "nginx"
    main = script.write_nginx_config(prefix, ["127.0.0.1:7001", "127.0.0.1:7002"],
                                     f"127.0.0.1:{free_port()}")  # fmt: skip
    result = nginx_t(nginx, script.nginx_argv(nginx, prefix, main))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_compose_nginx_config_passes_nginx_t(nginx: Path, tmp_path: Path) -> None:
    """As the nginx image loads it (conf.d/*.conf inside `http`); the instance names only
    resolve inside compose's network, so they become loopback addresses here."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    shipped = (DEPLOY / "nginx" / "tradewire.conf").read_text()
    (conf_d / "default.conf").write_text(UPSTREAM_HOSTS.sub(
        lambda m: m.group(0).replace(m.group(1), "127.0.0.1"), shipped))  # fmt: skip
    (tmp_path / "temp").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {tmp_path}/temp/body; proxy_temp_path {tmp_path}/temp/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/temp/f; uwsgi_temp_path {tmp_path}/temp/u;\n"
        f"  scgi_temp_path {tmp_path}/temp/s;\n  include {conf_d}/*.conf;\n}}\n"
    )
    result = nginx_t(nginx, ["nginx", "-p", f"{tmp_path}/", "-e", "stderr",
                             "-c", str(tmp_path / "nginx.conf")])  # fmt: skip
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- nginx in front of stubs


class StubInstance:
    """An HTTP server standing in for a tradewire instance: answers every request with its own
    name and the headers it received, so a test sees where nginx sent what."""

    def __init__(self, name: str) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps({"instance": stub.name, "headers": dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = _answer

            def setup(self) -> None:
                super().setup()
                stub.connections.add(self.connection)

            def log_message(self, *args: Any) -> None:
                return

        self.name = name
        self.connections: set[socket.socket] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening and cut open (keepalive) connections: the instance is gone."""
        self.server.shutdown()
        self.server.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join()


@dataclass
class Proxy:
    url: str
    stubs: dict[str, StubInstance]
    http: httpx.Client

    def get(self, path: str, key: str | None = None, **headers: str) -> httpx.Response:
        """GET through nginx, with the affinity cookie `key` (the client keeps no cookies)."""
        if key is not None:
            headers["Cookie"] = f"tw_lb={key}"
        self.http.cookies.clear()
        return self.http.get(f"{self.url}{path}", headers=headers)

    def instance(self, path: str, key: str | None = None, **headers: str) -> str:
        response = self.get(path, key, **headers)
        assert response.status_code == 200, response.text
        return str(response.json()["instance"])


@pytest.fixture
def proxy(nginx: Path, tmp_path: Path) -> Iterator[Proxy]:
    """nginx with the cluster's rendering of deploy/nginx/tradewire.conf, in front of two stubs."""
    script = cluster_script()
    stubs = {name: StubInstance(name) for name in ("one", "two")}
    port = free_port()
    prefix = tmp_path / "nginx"
    main = script.write_nginx_config(
        prefix, [f"127.0.0.1:{s.port}" for s in stubs.values()], f"127.0.0.1:{port}"
    )
    process = LoggedProcess(script.nginx_argv(nginx, prefix, main), name="nginx",
                            log_path=tmp_path / "nginx.log")  # fmt: skip
    process.start()
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(trust_env=False, timeout=5)
    try:

        def answers() -> bool:
            process.check_alive()
            try:
                return http.get(f"{url}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(answers, timeout=10, what=f"nginx on {url} to proxy GET /healthz")
        yield Proxy(url, stubs, http)
    finally:
        http.close()
        process.stop(signal.SIGTERM)
        for stub in stubs.values():
            stub.close()


def test_one_affinity_key_always_reaches_one_instance_and_keys_spread(proxy: Proxy) -> None:
    placement: dict[str, str] = {}
    for n in range(40):
        key = f"browser-{n}"
        seen = {
            proxy.instance(path, key)
            for path in ("/", "/api/portfolio", "/socket.io/?EIO=4&transport=polling&sid=x") * 2
        }
        assert len(seen) == 1, f"requests with the cookie {key} went to {seen}"
        placement[key] = seen.pop()
    assert set(placement.values()) == {"one", "two"}, "every key went to one instance"


def test_a_client_without_the_cookie_is_keyed_by_address_and_gets_one_from_pages_only(
    proxy: Proxy,
) -> None:
    page = proxy.get("/")
    cookie = page.headers.get("set-cookie", "")
    assert re.fullmatch(r"tw_lb=[0-9a-f]{32}; Path=/; HttpOnly; SameSite=Lax", cookie), cookie
    assert proxy.get("/api/me").headers.get("set-cookie") is not None
    # a polling session that began without the cookie must keep its key until it ends
    assert proxy.get("/socket.io/?EIO=4&transport=polling").headers.get("set-cookie") is None
    assert proxy.get("/", key="already-has-one").headers.get("set-cookie") is None
    cookieless = {proxy.instance(p) for p in ("/", "/socket.io/?EIO=4&transport=polling") * 5}
    assert len(cookieless) == 1, "cookie-less requests from one address moved between instances"


def test_instances_get_websocket_upgrades_and_the_real_client_address(proxy: Proxy) -> None:
    upgrade = proxy.get(
        "/socket.io/?EIO=4&transport=websocket", key="k",
        Upgrade="websocket", Connection="Upgrade", **{"X-Forwarded-For": "6.6.6.6"},
    ).json()["headers"]  # fmt: skip
    headers = {k.lower(): v for k, v in upgrade.items()}
    assert headers["upgrade"] == "websocket" and headers["connection"] == "upgrade"
    assert headers["x-forwarded-for"] == "127.0.0.1", "a client must not choose its address"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] == proxy.url.removeprefix("http://")
    plain = {k.lower(): v for k, v in proxy.get("/api/me", key="k").json()["headers"].items()}
    assert "connection" not in plain and "upgrade" not in plain  # keepalive to the instance


def test_requests_move_to_the_other_instance_when_one_is_down(proxy: Proxy) -> None:
    keys = {proxy.instance("/", f"k{n}"): f"k{n}" for n in range(30)}
    assert set(keys) == {"one", "two"}
    proxy.stubs["one"].close()
    assert proxy.instance("/api/portfolio", keys["one"]) == "two"
    assert proxy.instance("/api/portfolio", keys["two"]) == "two"


# ---------------------------------------------------------------- the local cluster (slow)


def needs_servers() -> None:
    """redis-server and PostgreSQL, which `make test` installs: missing fails under CI."""
    try:
        require_executable("redis-server", group="db", debian_package="redis-server",
                           extra_dirs=("/usr/bin",))  # fmt: skip
        find_postgres_bindir()
    except ServiceUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI is set and a server is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


def service_free_environment() -> dict[str, str]:
    """os.environ without tradewire settings, so a developer's shell cannot leak into the run."""
    names = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in names}


class Recorder:
    """A python-socketio client that sends the `tw_lb` cookie on every request (as a browser
    would) and records what it sees."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.events: list[tuple[str, Any]] = []
        self.http: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None

    async def connect(self, session_id: str, transport: str) -> None:
        # unsafe=True: aiohttp's default jar refuses cookies for IP addresses like 127.0.0.1
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({"tw_lb": self.key}, response_url=URL(self.url))
        self.http = aiohttp.ClientSession(cookie_jar=jar)
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._disconnected)
        await self.sio.connect(self.url, auth={"sessionId": session_id},
                               transports=[transport], wait_timeout=10)  # fmt: skip

    async def _record(self, event: str, data: Any = None, *_offset: Any) -> None:
        # a user event's last argument is its recovery offset (docs/WEBSOCKET.md): not data
        self.events.append((event, data))

    async def _disconnected(self, reason: Any = None) -> None:
        self.events.append(("disconnect", reason))

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, count: int = 1, timeout: float = 20) -> None:
        await wait_until(lambda: len(self.of(event)) >= count, timeout=timeout,
                         what=f"{count} '{event}' on the {self.key} client "
                         f"(got {len(self.of(event))})")  # fmt: skip

    async def close(self) -> None:
        if self.sio is not None and self.sio.connected:
            await self.sio.disconnect()
        if self.http is not None:
            await self.http.close()


def upstream_of(nginx_log: Path, key: str, path_prefix: str = "/") -> set[str]:
    """The instances nginx sent the requests with affinity `key` to (from its access log)."""
    found = set()
    for line in nginx_log.read_text().splitlines():
        match = re.search(r'"\w+ (\S+)".* upstream=(\S+) .* affinity=(\S+)$', line)
        if match and match.group(3) == key and match.group(1).startswith(path_prefix):
            found.add(match.group(2))
    return found


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_local_cluster_serves_sockets_over_both_transports_through_nginx(
    nginx: Path, tmp_path: Path
) -> None:
    needs_servers()
    port = free_port()
    data_dir = tmp_path / "cluster"
    output = tmp_path / "cluster.out"
    env = service_free_environment() | {"MARKET_TICK_RATE": "5", "AUTH_RATE_LIMIT": "1000/minute"}
    url = f"http://127.0.0.1:{port}"
    clients: list[Recorder] = []
    with output.open("wb") as out:
        script = await asyncio.create_subprocess_exec(
            sys.executable, str(CLUSTER_SCRIPT), "--instances", "2", "--port", str(port),
            "--data-dir", str(data_dir),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
            state_file = data_dir / "cluster.json"

            async def ready() -> bool:
                if script.returncode is not None:
                    raise AssertionError(f"scripts/cluster exited {script.returncode}")
                if not state_file.is_file() or "running" not in state_file.read_text():
                    return False  # written once everything answers
                return (await http.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=120, what=f"the cluster to be up behind {url}")
            state = json.loads(state_file.read_text())
            instances = {int(i["url"].rsplit(":", 1)[1]): i for i in state["instances"]}
            assert len(instances) == 2
            nginx_log = data_dir / "logs" / "nginx.log"

            # two affinity keys that nginx sends to different instances
            keys: dict[str, str] = {}
            for n in range(64):
                key = f"user-browser-{n}"
                await http.get("/healthz", headers={"Cookie": f"tw_lb={key}"})
                placed: set[str] = await wait_until(
                    functools.partial(upstream_of, nginx_log, key),
                    timeout=5,
                    what=f"nginx's log line for {key}",
                )
                keys.setdefault(placed.pop(), key)
                if len(keys) == 2:
                    break
            assert len(keys) == 2, f"64 keys all went to {set(keys)}"
            (instance_a, key_a), (instance_b, key_b) = sorted(keys.items())

            # the dashboard, through nginx (served by whichever instance the key picks)
            page = await http.get("/")
            index = ROOT / "dashboard" / "dist" / "index.html"
            if index.is_file():
                assert page.status_code == 200, page.text
                assert page.headers["content-type"].startswith("text/html")
                [script_src] = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
                assert (await http.get(script_src)).status_code == 200
            else:
                assert page.json()["error"]["code"] == "DASHBOARD_NOT_BUILT", page.text

            demo = {"username": "demo", "password": "demo-password"}
            login = await http.post("/api/auth/login", json=demo)
            assert login.status_code == 200, login.text
            session_id = login.json()["sessionId"]
            symbols = [s["symbol"] for s in (await http.get("/api/symbols")).json()[:3]]

            websocket, polling = Recorder(url, key_a), Recorder(url, key_b)
            clients += [websocket, polling]
            await websocket.connect(session_id, "websocket")
            await polling.connect(session_id, "polling")
            for client in clients:
                assert client.sio is not None
                ack = await client.sio.call("subscribe:watchlist", {"symbols": symbols}, timeout=10)
                assert ack["ok"], ack
            for client in clients:
                await client.wait_for("quote:update", count=10)

            # every request of the polling socket stayed on its instance (nginx logs a
            # WebSocket only when it closes: that one is checked after the stop)
            assert upstream_of(nginx_log, key_b, "/socket.io/") == {instance_b}
            polls = sum(1 for line in nginx_log.read_text().splitlines()
                        if f"affinity={key_b}" in line and "/socket.io/" in line)  # fmt: skip
            assert polls >= 3

            # a trade placed through instance A reaches the socket on instance B too
            order = await http.post(
                "/api/orders", json={"symbol": symbols[0], "side": "buy", "quantity": 1},
                headers={"Cookie": f"tw_lb={key_a}", "Authorization": f"Bearer {session_id}"},
            )  # fmt: skip
            assert order.status_code == 201, order.text
            for client in clients:
                await client.wait_for("trade:executed")
                await client.wait_for("portfolio:update")

            # one market: each symbol's quotes come from one feed, in order, without repeats
            for client in clients:
                for symbol in symbols:
                    seqs = [q["seq"] for q in client.of("quote:update") if q["symbol"] == symbol]
                    assert seqs == sorted(set(seqs)), (
                        f"{client.key}: {symbol} quotes out of order or repeated: {seqs[:20]}"
                    )

        # SIGTERM: sockets are told, then disconnected; everything stops; exit 0
        script.send_signal(signal.SIGTERM)
        for client in clients:
            await client.wait_for("server:shutdown", timeout=15)
            await client.wait_for("disconnect", timeout=15)
        code = await asyncio.wait_for(script.wait(), timeout=40)
        assert code == 0, output.read_text()
        assert upstream_of(nginx_log, key_a, "/socket.io/") == {instance_a}
        state = json.loads((data_dir / "cluster.json").read_text())
        assert state["state"] == "stopped"
        parts = [state["nginx"], state["redis"], state["postgres"], *state["instances"]]
        for part in parts:
            with pytest.raises(ProcessLookupError):
                os.kill(part["pid"], 0)
        for port_in_use in [port, *instances]:
            assert not is_listening(port_in_use), f"port {port_in_use} still answers"
    except BaseException:
        print(f"\n--- scripts/cluster output ---\n{output.read_text()}", file=sys.stderr)
        for log in sorted((data_dir / "logs").glob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            print(f"--- {log.name} ---\n{tail}", file=sys.stderr)
        raise
    finally:
        # the cluster first: a polling client's own disconnect waits for its pending long-poll
        if script.returncode is None:
            script.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(script.wait(), timeout=30)
            except TimeoutError:
                script.kill()
                await script.wait()
        for client in clients:
            await client.close()
