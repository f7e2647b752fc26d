"""A raw Engine.IO/Socket.IO client for tests that need bytes a library client never sends or
a client that really stops reading: websockets' sans-I/O client over a blocking TCP socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.realtime.clients import WAIT


class RawClient:
    """One Engine.IO/Socket.IO session over a blocking TCP socket that reads only when told."""

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        self.proto = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
            max_size=None,
        )
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.inbox: list[str] = []
        self.open = False
        self.closed = False

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, text: str) -> None:
        self.send_frame(text.encode())

    def send_frame(self, data: bytes, *, binary: bool = False) -> None:
        """One frame as is: a text frame's bytes are not checked to be UTF-8."""
        if binary:
            self.proto.send_binary(data)
        else:
            self.proto.send_text(data)
        self._flush()

    def read_once(self) -> None:
        """One recv: frames decoded into `inbox`, pings answered."""
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            self.proto.receive_eof()
        else:
            self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event
                self.open = True
            elif isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    text = bytes(event.data).decode()
                    if text == "2":
                        self.send("3")
                    self.inbox.append(text)
                elif event.opcode is Opcode.CLOSE:
                    self.closed = True
        self._flush()

    def read_until(self, wanted: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for i, text in enumerate(self.inbox):
                if wanted(text):
                    del self.inbox[: i + 1]
                    return text
            self.inbox.clear()
            assert not self.closed, f"connection closed while waiting for {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            self.read_once()

    def events(self, name: str) -> list[Any]:
        prefix = f'42["{name}",'
        return [orjson.loads(t[2:])[1] for t in self.inbox if t.startswith(prefix)]

    def close(self) -> None:
        self.sock.close()


def connected_client(port: int, session_id: str, *, rcvbuf: int | None = None) -> RawClient:
    """A RawClient past the Engine.IO open and the Socket.IO CONNECT with `session_id`."""
    client = RawClient(port, rcvbuf=rcvbuf)
    client.read_until(lambda t: t.startswith("0{"), "the Engine.IO open packet")
    client.send("40" + orjson.dumps({"sessionId": session_id}).decode())
    client.read_until(lambda t: t.startswith('40{"sid"'), "the CONNECT reply")
    return client
