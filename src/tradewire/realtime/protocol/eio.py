"""Engine.IO protocol 4: packets and long-polling payloads.

A packet is a type digit and its data. On a WebSocket each packet is one frame: a text frame
holds the digit and the text (`4hello`), a binary frame holds a binary MESSAGE's bytes alone.
A long-polling body holds several packets separated by the record separator `\\x1e`; a binary
MESSAGE there is `b` and its bytes in base64.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

SEPARATOR = "\x1e"
PROTOCOL_VERSION = "4"

# The errors of the transport, as the reference server sends them in a refusal's JSON body
UNKNOWN_TRANSPORT = (0, "Transport unknown")
UNKNOWN_SID = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
FORBIDDEN = (4, "Forbidden")
UNSUPPORTED_VERSION = (5, "Unsupported protocol version")
PAYLOAD_TOO_LARGE = (3, "Payload too large")


class PacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class ProtocolError(ValueError):
    """A frame or payload that is not Engine.IO 4: the connection that sent it is closed."""


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    data: str | bytes = ""

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


_TYPES = {str(t.value): t for t in PacketType}


def encode_packet(packet: Packet) -> str | bytes:
    """The WebSocket frame of `packet`: text, or a binary MESSAGE's bytes."""
    if isinstance(packet.data, bytes):
        if packet.type is not PacketType.MESSAGE:
            raise ValueError("only a MESSAGE carries binary data")
        return packet.data
    return str(packet.type.value) + packet.data


def decode_packet(frame: str | bytes) -> Packet:
    """One WebSocket frame as a packet. Raises `ProtocolError`."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(frame))
    if not frame:
        raise ProtocolError("empty packet")
    packet_type = _TYPES.get(frame[0])
    if packet_type is None:
        raise ProtocolError(f"unknown packet type {frame[0]!r}")
    return Packet(packet_type, frame[1:])


def encode_payload(packets: list[Packet]) -> str:
    """A long-polling body: the packets in order, binary ones in base64."""
    return SEPARATOR.join(_encode_polling(packet) for packet in packets)


def _encode_polling(packet: Packet) -> str:
    if isinstance(packet.data, bytes):
        return "b" + base64.b64encode(packet.data).decode("ascii")
    return str(packet.type.value) + packet.data


def decode_payload(body: str, max_packets: int) -> list[Packet]:
    """The packets of a long-polling body, at most `max_packets`. Raises `ProtocolError`."""
    if not body:
        raise ProtocolError("empty payload")
    parts = body.split(SEPARATOR, max_packets)
    if len(parts) > max_packets:
        raise ProtocolError(f"more than {max_packets} packets in one payload")
    return [_decode_polling(part) for part in parts]


def _decode_polling(part: str) -> Packet:
    if part.startswith("b"):
        try:
            return Packet(PacketType.MESSAGE, base64.b64decode(part[1:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 in a binary packet") from exc
    return decode_packet(part)
