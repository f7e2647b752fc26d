"""Handshakes take turns (`realtime/websocket.py`, `HandshakeTurns`): past the budget of one
event-loop turn the rest wait, in arrival order, and each later turn handles a slice, so a
wave of handshakes arriving together does not hold the loop."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from tradewire.realtime import websocket
from tradewire.realtime.engine import Engine, EngineConfig, EngineHandler
from tradewire.realtime.websocket import websocket_protocol

REQUEST = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Transport:
    """What the protocol needs of an asyncio transport; records what is written."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def refusing_protocol() -> type[websocket.EngineWebSocket]:
    """Every new session over the admission rate: each handshake, once handled, is a 503."""
    handler = cast("EngineHandler", None)  # no session opens: every handshake is refused
    engine = Engine(EngineConfig(handshake_rate=0.001, handshake_burst=1), handler)
    engine.admit_handshake()  # the burst's one token is gone
    return websocket_protocol(engine)


def arrive(protocol: type[websocket.EngineWebSocket], *chunks: bytes) -> Transport:
    ws, transport = protocol(), Transport()
    ws.connection_made(transport)  # type: ignore[arg-type]
    for chunk in chunks:
        ws.data_received(chunk)
    return transport


def answered(transports: list[Transport]) -> list[bool]:
    return [t.written.startswith(b"HTTP/1.1 503 ") and t.closed for t in transports]


async def test_within_the_budget_a_handshake_is_answered_at_once() -> None:
    transport = arrive(refusing_protocol(), REQUEST)
    assert answered([transport]) == [True]


async def test_past_the_budget_handshakes_wait_and_take_one_slice_a_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_BUDGET", 0.0)  # a slice is one handshake
    protocol = refusing_protocol()
    transports = [arrive(protocol, REQUEST) for _ in range(3)]
    assert answered(transports) == [False, False, False]  # nothing ran in the arrivals' turn
    await asyncio.sleep(0)
    assert answered(transports) == [True, False, False]  # in the order they came
    await asyncio.sleep(0)
    assert answered(transports) == [True, True, False]
    await asyncio.sleep(0)
    assert answered(transports) == [True, True, True]


async def test_a_waiting_request_keeps_its_later_bytes_and_a_lost_one_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_BUDGET", 0.0)
    protocol = refusing_protocol()
    lost = arrive(protocol, REQUEST)
    lost.closed = True  # the client went away while its handshake waited
    split = arrive(protocol, REQUEST[:20], REQUEST[20:])  # the rest came while it waited
    for _ in range(3):
        await asyncio.sleep(0)
    assert lost.written == b""
    assert answered([split]) == [True]


async def test_a_handshake_that_fails_in_its_turn_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_BUDGET", 0.0)
    protocol = refusing_protocol()

    class Failing(protocol):  # type: ignore[valid-type,misc]
        __slots__ = ()

        def handle_first_bytes(self) -> None:
            raise RuntimeError("a bug in one handshake")

    failing = arrive(Failing, REQUEST)
    after = arrive(protocol, REQUEST)
    for _ in range(2):
        await asyncio.sleep(0)
    assert failing.closed and failing.written == b""  # aborted
    assert answered([after]) == [True]
    assert "handshake failed" in caplog.text
