"""Socket.IO protocol 5: packets, and binary attachments.

A packet travels as the text of one Engine.IO MESSAGE:

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

for example `2["hello",1]`, `0/custom,{"token":"123"}`, `312["ok"]`, and
`51-["upload",{"_placeholder":true,"num":0}]` followed by one binary MESSAGE per attachment.
The namespace is left out when it is `/`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_ACK_ID = 2**53 - 1
"""Ack ids are JavaScript numbers: integers up to 2^53 - 1."""
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class PacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


class ProtocolError(ValueError):
    """A packet that is not Socket.IO 5: the connection that sent it is closed."""


@dataclass(slots=True)
class Packet:
    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0
    """Binary packets: how many binary MESSAGEs follow (while decoding, still to come)."""
    buffers: list[bytes] = field(default_factory=list)


_TYPES = {str(t.value): t for t in PacketType}
_BINARY = (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)


def encode(packet: Packet) -> list[str | bytes]:
    """The Engine.IO MESSAGEs that carry `packet`: its text, then one binary message per
    attachment. A packet whose data holds `bytes` is sent as BINARY_EVENT / BINARY_ACK."""
    buffers: list[bytes] = []
    data = _deconstruct(packet.data, buffers) if packet.data is not None else None
    packet_type = packet.type
    if buffers and packet_type is PacketType.EVENT:
        packet_type = PacketType.BINARY_EVENT
    elif buffers and packet_type is PacketType.ACK:
        packet_type = PacketType.BINARY_ACK
    parts = [str(packet_type.value)]
    if packet_type in _BINARY:
        parts.append(f"{len(buffers)}-")
    if packet.namespace != "/":
        parts.append(packet.namespace + ",")
    if packet.id is not None:
        parts.append(str(packet.id))
    if data is not None:
        parts.append(orjson.dumps(data).decode())
    return ["".join(parts), *buffers]


def encode_event(namespace: str, event: str, *args: Any) -> str:
    """The text of an EVENT without an ack id or attachments: what a broadcast sends.
    Raises `ValueError` for binary arguments (they need a packet per recipient)."""
    parts = encode(Packet(PacketType.EVENT, namespace, [event, *args]))
    if len(parts) > 1 or not isinstance(parts[0], str):
        raise ValueError("a broadcast carries no binary attachments")
    return parts[0]


def decode(text: str) -> Packet:
    """The packet of one text MESSAGE. A binary packet comes back with `attachments` > 0 and
    placeholders in its data: feed it the binary messages that follow (`add_attachment`).
    Raises `ProtocolError`."""
    if not text or text[0] not in _TYPES:
        raise ProtocolError("unknown packet type")
    packet_type = _TYPES[text[0]]
    i = 1
    attachments = 0
    if packet_type in _BINARY:
        dash = text.find("-", i)
        count = text[i:dash] if dash > 0 else ""
        if not count.isdigit() or len(count) > 4:
            raise ProtocolError("invalid attachment count")
        attachments = int(count)
        i = dash + 1
    namespace = "/"
    if text.startswith("/", i):
        comma = text.find(",", i)
        end = comma if comma >= 0 else len(text)
        namespace = text[i:end]
        i = end + 1 if comma >= 0 else end
    ack_id = None
    start = i
    while i < len(text) and text[i].isdigit() and text[i].isascii():
        i += 1
    if i > start:
        if i - start > 16 or int(text[start:i]) > MAX_ACK_ID:
            raise ProtocolError("invalid ack id")
        ack_id = int(text[start:i])
    data = None
    if i < len(text):
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("invalid JSON payload") from exc
    packet = Packet(packet_type, namespace, data, ack_id, attachments)
    _check(packet)
    return packet


def _check(packet: Packet) -> None:
    data = packet.data
    match packet.type:
        case PacketType.CONNECT:
            valid = data is None or isinstance(data, dict)
        case PacketType.DISCONNECT:
            valid = data is None
        case PacketType.EVENT | PacketType.BINARY_EVENT:
            valid = (
                isinstance(data, list)
                and len(data) > 0
                and isinstance(data[0], str)
                and data[0] not in RESERVED_EVENTS
            )
        case PacketType.ACK | PacketType.BINARY_ACK:
            valid = isinstance(data, list) and packet.id is not None
        case PacketType.CONNECT_ERROR:
            valid = isinstance(data, str | dict)
    if not valid:
        raise ProtocolError(f"invalid payload for {packet.type.name}")
    if packet.type in _BINARY and packet.attachments == 0:
        raise ProtocolError("a binary packet without attachments")


def add_attachment(packet: Packet, buffer: bytes) -> bool:
    """Add the next binary message to a binary packet; True once it is complete, its
    placeholders replaced by the bytes. Raises `ProtocolError` for a placeholder that names
    no attachment."""
    packet.buffers.append(buffer)
    if len(packet.buffers) < packet.attachments:
        return False
    packet.data = _reconstruct(packet.data, packet.buffers)
    packet.attachments = 0
    packet.buffers = []
    return True


def _deconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, bytes | bytearray | memoryview):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, list | tuple):
        return [_deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, buffers) for key, value in data.items()}
    return data


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, list):
        return [_reconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(buffers):
                raise ProtocolError("a placeholder that names no attachment")
            return buffers[num]
        return {key: _reconstruct(value, buffers) for key, value in data.items()}
    return data
