"""Test helpers: an in-process live server and authenticated clients."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx
import socketio
import uvicorn

from tests.harness.waiting import wait_until
from tradewire.app import Services, create_app, websocket_protocol
from tradewire.market.symbols import make_quote
from tradewire.schemas import Quote
from tradewire.settings import Settings

DEMO = {"username": "demo", "password": "demo-password"}


class LiveServer:
    """tradewire served by uvicorn on 127.0.0.1:<free port>, inside the test's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.services: Services = self.app.state.services
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_config=None,
            lifespan="on",
            loop="none",
            ws=websocket_protocol(self.app),
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=2,
        )
        self.uvicorn = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self.uvicorn.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self.uvicorn.serve(sockets=[self._sock]))
        await wait_until(
            lambda: self.uvicorn.started or self._task.done(),  # type: ignore[union-attr]
            timeout=20,
            what=f"tradewire to start on {self.url}",
        )
        if self._task.done():
            await self._task
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is None:
            return
        if self.services.realtime is not None and self.uvicorn.started:
            await self.services.prepare_shutdown()
        self.uvicorn.should_exit = True
        await asyncio.wait_for(self._task, timeout=20)
        self._task = None
        self._sock.close()

    def http(self, session_id: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {session_id}"} if session_id else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def login(
        self, username: str = DEMO["username"], password: str = DEMO["password"]
    ) -> str:
        async with self.http() as http:
            r = await http.post(
                "/api/auth/login", json={"username": username, "password": password}
            )
            r.raise_for_status()
            return str(r.json()["sessionId"])

    async def register(self, username: str, password: str = "password123") -> str:
        """Create a user and return a session id for it."""
        async with self.http() as http:
            r = await http.post(
                "/api/auth/register", json={"username": username, "password": password}
            )
            r.raise_for_status()
        return await self.login(username, password)

    async def place_order(self, session_id: str, **order: Any) -> dict[str, Any]:
        async with self.http(session_id) as http:
            r = await http.post("/api/orders", json=order)
            assert r.status_code == 201, r.text
            return r.json()  # type: ignore[no-any-return]


class SocketClient:
    """python-socketio's AsyncClient that records every server event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None, *_offset: Any) -> None:
        # a user event's last argument is its recovery offset (docs/WEBSOCKET.md): not data
        self.events.append((event, data))

    def of(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    async def connect(
        self, url: str, session_id: str | None, transports: list[str] | None = None
    ) -> SocketClient:
        auth = {"sessionId": session_id} if session_id is not None else None
        await self.sio.connect(
            url, auth=auth, transports=transports or ["websocket"], wait_timeout=10
        )
        return self

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list[Any]:
        await wait_until(
            lambda: len(self.of(event)) >= count,
            timeout=timeout,
            what=f"{count} '{event}' event(s); got {len(self.of(event))}",
        )
        return self.of(event)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown() if hasattr(self.sio, "shutdown") else None

    async def __aenter__(self) -> SocketClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def sample_quote(symbol: str, seq: int, last: str = "100.00") -> Quote:
    """A quote a test controls: one cent either side of `last`, open at 100.00, `ts` from seq."""
    price = Decimal(last)
    return make_quote(
        symbol,
        bid=price - Decimal("0.01"),
        ask=price + Decimal("0.01"),
        last=price,
        open=Decimal("100.00"),
        seq=seq,
        ts=1_700_000_000_000 + seq,
    )
