"""Several real tradewire processes on one real Redis and one real PostgreSQL database."""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer
from tests.harness.process import LoggedProcess, ServiceProcess
from tests.harness.redis import RedisServer
from tests.harness.waiting import wait_until
from tests.support import SocketClient
from tests.test_cluster import cluster_script, nginx, upstream_of  # noqa: F401 (a fixture)

DEMO = {"username": "demo", "password": "demo-password"}


@dataclass
class Cluster:
    redis: RedisServer
    instances: list[ServiceProcess]
    env: dict[str, str]

    async def ready(self, instance: ServiceProcess) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{instance.url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_ready(self, timeout: float = 20) -> None:
        for instance in self.instances:
            if instance.running:
                await wait_until(
                    lambda i=instance: self.ready(i),
                    timeout=timeout,
                    what=f"{instance.url}/readyz to answer 200",
                )

    async def leader(self) -> ServiceProcess | None:
        for instance in self.instances:
            if not instance.running:
                continue
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    if (await http.get(f"{instance.url}/readyz")).json().get("feedLeader"):
                        return instance
            except httpx.HTTPError:
                continue
        return None

    async def login(
        self, instance: ServiceProcess | None = None, user: dict[str, str] = DEMO
    ) -> str:
        target = instance or self.instances[0]
        async with httpx.AsyncClient(base_url=target.url, timeout=10) as http:
            r = await http.post("/api/auth/login", json=user)
            r.raise_for_status()
            return str(r.json()["sessionId"])

    async def register(self, username: str) -> str:
        user = {"username": username, "password": "password123"}
        async with httpx.AsyncClient(base_url=self.instances[0].url, timeout=10) as http:
            (await http.post("/api/auth/register", json=user)).raise_for_status()
        return await self.login(user=user)


@pytest.fixture
def cluster_env(postgres_server: PostgresServer) -> Iterator[dict[str, str]]:
    name = "cluster_test"
    url = postgres_server.create_database(name)
    try:
        yield {
            "DATABASE_URL": url,
            "MARKET_TICK_RATE": "2",
            "MARKET_SEED": "11",
            "AUTH_RATE_LIMIT": "10000/minute",
        }
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
async def cluster(cluster_env: dict[str, str]) -> AsyncIterator[Cluster]:
    """Three instances (a fresh Redis of their own, so a test may restart it)."""
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        env = {**cluster_env, "REDIS_URL": redis.url}
        instances = [ServiceProcess(env, log_level="info") for _ in range(3)]
        for instance in instances:
            stack.callback(instance.close)
        # the first one migrates the database; the others start side by side
        await asyncio.to_thread(instances[0].start)
        await asyncio.gather(*(asyncio.to_thread(i.start) for i in instances[1:]))
        cluster = Cluster(redis, instances, env)
        await cluster.wait_ready()
        yield cluster


@pytest.fixture
async def clients() -> AsyncIterator[list[SocketClient]]:
    made: list[SocketClient] = []
    yield made
    for client in made:
        await client.close()


async def connect(clients: list[SocketClient], url: str, session_id: str) -> SocketClient:
    client = SocketClient()
    clients.append(client)
    return await client.connect(url, session_id)


@dataclass
class Balancer:
    """nginx with the shipped configuration in front of some of the cluster's instances."""

    url: str
    log: Path
    """nginx's access log: `upstream_of` reads where it sent what."""

    async def key_for_each(self, instances: Sequence[ServiceProcess]) -> dict[str, str]:
        """instance URL -> an affinity cookie value (`tw_lb`) nginx sends to that instance."""
        keys: dict[str, str] = {}
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            for n in range(64):
                key = f"phone-{n}"
                await http.get(f"{self.url}/healthz", headers={"Cookie": f"tw_lb={key}"})
                placed: set[str] = await wait_until(
                    functools.partial(upstream_of, self.log, key), timeout=5, what=f"{key} logged"
                )
                keys.setdefault(f"http://{placed.pop()}", key)
                if len(keys) == len(instances):
                    break
        assert set(keys) == {i.url for i in instances}, f"64 keys went to {set(keys)} only"
        return keys

    async def instance_of(self, key: str, instances: Sequence[ServiceProcess]) -> ServiceProcess:
        """Where nginx sends affinity `key` (a client without the cookie: its address)."""
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            await http.get(f"{self.url}/healthz")
        placed: set[str] = await wait_until(
            functools.partial(upstream_of, self.log, key), timeout=5, what=f"{key} logged"
        )
        [upstream] = placed
        [instance] = [i for i in instances if i.url == f"http://{upstream}"]
        return instance


@asynccontextmanager
async def balancer(
    nginx_path: Path, instances: Sequence[ServiceProcess], tmp_path: Path
) -> AsyncIterator[Balancer]:
    """nginx (the cluster's rendering of deploy/nginx/tradewire.conf) in front of `instances`."""
    script = cluster_script()
    port = free_port()
    prefix = tmp_path / "nginx"
    upstreams = [f"127.0.0.1:{i.port}" for i in instances]
    main = script.write_nginx_config(prefix, upstreams, f"127.0.0.1:{port}")
    log = tmp_path / "nginx.log"
    process = LoggedProcess(script.nginx_argv(nginx_path, prefix, main), name="nginx", log_path=log)
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:

            async def answers() -> bool:
                process.check_alive()
                try:
                    return (await http.get(f"{url}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(answers, timeout=10, what=f"nginx on {url}")
        yield Balancer(url, log)
    finally:
        process.stop(signal.SIGTERM)
