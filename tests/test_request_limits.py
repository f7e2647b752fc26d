"""Request body limits (api/body_limit.py): refused with 413 before the body is read.

In-process: which limit a path gets. Against a real service process: a 64 MB body sent to
`/api/auth/login` (no login needed), announced by Content-Length or streamed chunked, is
answered 413 and the server's peak RSS (VmHWM) does not grow by anything like the body.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.process import ServiceProcess
from tradewire.api.body_limit import BodyLimits
from tradewire.settings import Settings

BIG = 64 * 1024 * 1024
CHUNK = 64 * 1024
RSS_SLACK = 16 * 1024 * 1024
"""Peak RSS may grow a little while a request is served; far less than the 64 MB body."""


def test_each_path_gets_its_limit() -> None:
    limits = BodyLimits(default=65_536, auth=4096, orders=16_384)
    assert limits.for_path("/api/auth/login") == 4096
    assert limits.for_path("/api/auth/register") == 4096
    assert limits.for_path("/api/orders") == 16_384
    assert limits.for_path("/api/orders/7") == 16_384
    assert limits.for_path("/api/watchlist") == 65_536
    assert limits.for_path("/api/authx") == 65_536


def test_limits_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, max_auth_body_bytes=1024, max_order_body_bytes=2048, _env_file=None
    )
    assert (settings.max_auth_body_bytes, settings.max_order_body_bytes) == (1024, 2048)
    assert Settings(_env_file=None).max_body_bytes == 65_536


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def send_until_answered(port: int, head: bytes, body: Iterator[bytes]) -> bytes:
    """Send `head`, then `body` until the server stops reading or the body ends, then read the
    answer to its end (the server closes the connection after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head)
        try:
            for chunk in body:
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # refused: the server answered and closed without reading the rest
        answer = b""
        try:
            while part := conn.recv(65_536):
                answer += part
        except ConnectionResetError:
            pass
    return answer


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split()[1]), json.loads(body)


def big_body() -> Iterator[bytes]:
    payload = b'{"username": "demo", "password": "' + b"x" * (CHUNK - 35)
    yield payload
    for _ in range(BIG // CHUNK - 1):
        yield b"x" * CHUNK


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    with ServiceProcess({"SEED_DEMO": "true", "MARKET_SYMBOLS": "5"}) as service:
        yield service


def test_64_mb_login_body_with_content_length_is_413_without_reading_it(
    service: ServiceProcess,
) -> None:
    assert service.pid is not None
    before = peak_rss(service.pid)
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(BIG).encode() + b"\r\n\r\n"
    )
    status, body = status_and_body(send_until_answered(service.port, head, big_body()))
    grew = peak_rss(service.pid) - before
    print(f"peak RSS before {before / 2**20:.1f} MiB, growth {grew / 2**20:.2f} MiB")
    assert status == 413
    assert body == {
        "error": {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "The request body is larger than this endpoint takes (4,096 bytes).",
        }
    }
    assert grew < RSS_SLACK, f"peak RSS grew by {grew:,} bytes"


def test_64_mb_chunked_login_body_is_413_as_it_streams(service: ServiceProcess) -> None:
    assert service.pid is not None
    before = peak_rss(service.pid)
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunks = (b"%x\r\n%s\r\n" % (len(c), c) for c in big_body())
    status, body = status_and_body(send_until_answered(service.port, head, chunks))
    grew = peak_rss(service.pid) - before
    print(f"peak RSS before {before / 2**20:.1f} MiB, growth {grew / 2**20:.2f} MiB")
    assert status == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"  # type: ignore[index]
    assert grew < RSS_SLACK, f"peak RSS grew by {grew:,} bytes"


def test_bodies_within_their_limits_still_work(service: ServiceProcess) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        login = http.post("/api/auth/login", json={"username": "demo", "password": "demo-password"})
        assert login.status_code == 200
        bearer = {"Authorization": f"Bearer {login.json()['sessionId']}"}
        symbol = http.get("/api/symbols").json()[0]["symbol"]
        order = {"symbol": symbol, "side": "buy", "quantity": 1}
        assert http.post("/api/orders", json=order, headers=bearer).status_code == 201
        # 16 KiB for orders: padding in a field the model refuses anyway, so only size decides
        padded = {**order, "note": "x" * 17_000}
        r = http.post("/api/orders", json=padded, headers=bearer)
        assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        small_pad = {**order, "note": "x" * 1000}
        r = http.post("/api/orders", json=small_pad, headers=bearer)
        assert r.status_code == 422  # read and validated: `note` is not a field
        # a login body just over 4 KiB
        r = http.post("/api/auth/login", json={"username": "demo", "password": "p" * 5000})
        assert r.status_code == 413
        assert len(http.get("/api/orders", headers=bearer).json()) == 1
