"""`tradewire protocol-test-server`: the transport with the behaviour the public Socket.IO and
Engine.IO protocol test suites expect (socketio/socket.io-protocol and
socketio/engine.io-protocol, folder `test-suite/`, which connect to port 3000):

- pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000, connect timeout 1,000 ms;
- Socket.IO at `/socket.io/`, namespaces `/` and `/custom`: on connect each emits `auth` with
  the handshake's auth payload; `message` is answered by `message-back` with the same
  arguments; `message-with-ack` is acked with the same arguments; another namespace is
  refused with `{"message":"Invalid namespace"}`;
- a plain Engine.IO echo at `/engine.io/`: every message comes back as it was sent.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from tradewire.realtime.engine import Engine, EngineConfig, EngineSocket, HandshakeRequest, Outgoing
from tradewire.realtime.sockets import Namespace, Socket, SocketServer
from tradewire.realtime.websocket import websocket_protocol

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT = 1.0


class EchoNamespace(Namespace):
    async def connect(self, socket: Socket, auth: Any) -> None:
        socket.data = auth if auth is not None else {}

    def connected(self, socket: Socket) -> None:
        socket.emit("auth", socket.data)

    async def event(self, socket: Socket, event: str, args: list[Any]) -> list[Any] | None:
        if event == "message":
            socket.emit("message-back", *args)
        elif event == "message-with-ack":
            return args
        return None


class EchoEngineHandler:
    """Engine.IO alone: each message is sent back."""

    def on_open(self, socket: EngineSocket, request: HandshakeRequest) -> None:
        pass

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        if isinstance(data, bytes):
            socket.send(Outgoing(data, binary=True))
        else:
            socket.send(Outgoing.text("4" + data))

    def on_close(self, socket: EngineSocket, reason: str) -> None:
        pass

    def on_drained(self, socket: EngineSocket) -> None:
        pass


def build() -> tuple[Any, tuple[Engine, ...]]:
    """The ASGI app and its engines (Socket.IO first)."""

    def config(path: str) -> EngineConfig:
        return EngineConfig(
            path=path,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            max_payload=MAX_PAYLOAD,
            allowed_origins=("*",),
        )

    echo = Engine(config("/engine.io/"), EchoEngineHandler())
    server = SocketServer(connect_timeout=CONNECT_TIMEOUT)
    server.register("/", EchoNamespace())
    server.register("/custom", EchoNamespace())
    engine = Engine(config("/socket.io/"), server, other_app=echo)
    server.bind(engine)
    return _Lifespan(engine, echo), (engine, echo)


class _Lifespan:
    """Starts and stops the engines with the server."""

    def __init__(self, app: Engine, *engines: Engine) -> None:
        self.app = app
        self.engines = (app, *engines)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for engine in self.engines:
                    engine.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for engine in self.engines:
                    await engine.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def serve(host: str, port: int) -> None:
    app, engines = build()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=websocket_protocol(*engines),
        lifespan="on",
        log_level="warning",
    )
    uvicorn.Server(config).run()
