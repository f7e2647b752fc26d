"""A real `tradewire protocol-test-server` on a free loopback port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port
from tests.harness.process import LoggedProcess
from tests.harness.waiting import wait_until_sync
from tests.realtime.test_js_client import node  # noqa: F401  (a fixture: the `node` program)


class ProtocolServer:
    def __init__(self, port: int, process: LoggedProcess) -> None:
        self.port = port
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def protocol_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProtocolServer]:
    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("protocol-server") / "server.log"
    process = LoggedProcess(
        [sys.executable, "-m", "tradewire", "protocol-test-server", "--port", str(port)],
        name="protocol-test-server",
        log_path=log_path,
    )
    process.start()
    server = ProtocolServer(port, process)

    def answers() -> bool:
        process.check_alive()
        try:
            response = httpx.get(f"{server.url}/engine.io/?EIO=4&transport=polling", timeout=1)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    try:
        wait_until_sync(answers, timeout=20, what="the protocol test server to answer")
        yield server
    finally:
        process.stop()
