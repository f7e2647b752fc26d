"""The wire protocols as pure functions, checked against examples of the protocol documents
(socketio/engine.io-protocol and socketio/socket.io-protocol)."""

from __future__ import annotations

import pytest

from tradewire.realtime.protocol import eio, sio
from tradewire.realtime.protocol.eio import Packet, PacketType
from tradewire.realtime.protocol.sio import Packet as SioPacket
from tradewire.realtime.protocol.sio import PacketType as SioType


class TestEngineIOPackets:
    def test_text_packets_are_the_type_digit_and_the_data(self) -> None:
        assert eio.encode_packet(Packet(PacketType.MESSAGE, "hello")) == "4hello"
        assert eio.encode_packet(Packet(PacketType.PING, "probe")) == "2probe"
        assert eio.decode_packet("3probe") == Packet(PacketType.PONG, "probe")
        assert eio.decode_packet("6") == Packet(PacketType.NOOP)

    def test_a_binary_frame_is_a_message_of_its_bytes(self) -> None:
        assert eio.decode_packet(b"\x01\x02") == Packet(PacketType.MESSAGE, b"\x01\x02")
        assert eio.encode_packet(Packet(PacketType.MESSAGE, b"\x01")) == b"\x01"

    @pytest.mark.parametrize("frame", ["", "abc", "9", "x4"])
    def test_unknown_or_empty_packets_are_refused(self, frame: str) -> None:
        with pytest.raises(eio.ProtocolError):
            eio.decode_packet(frame)

    def test_a_payload_separates_packets_and_carries_binary_in_base64(self) -> None:
        packets = [
            Packet(PacketType.MESSAGE, "hello"),
            Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
        ]
        assert eio.encode_payload(packets) == "4hello\x1ebAQIDBA=="
        assert eio.decode_payload("4hello\x1ebAQIDBA==", 10) == packets
        assert eio.decode_payload("4test1\x1e4test2\x1e4test3", 10)[2].data == "test3"

    def test_a_payload_over_its_packet_limit_or_with_bad_base64_is_refused(self) -> None:
        with pytest.raises(eio.ProtocolError, match="more than 2"):
            eio.decode_payload("4a\x1e4b\x1e4c", 2)
        with pytest.raises(eio.ProtocolError, match="base64"):
            eio.decode_payload("b!!!", 2)
        with pytest.raises(eio.ProtocolError):
            eio.decode_payload("", 2)


class TestSocketIOPackets:
    @pytest.mark.parametrize(
        ("packet", "text"),
        [
            (SioPacket(SioType.CONNECT), "0"),
            (SioPacket(SioType.CONNECT, "/admin", {"token": "123"}), '0/admin,{"token":"123"}'),
            (SioPacket(SioType.DISCONNECT, "/admin"), "1/admin,"),
            (SioPacket(SioType.EVENT, "/", ["hello", 1]), '2["hello",1]'),
            (
                SioPacket(SioType.EVENT, "/admin", ["project:delete", 123], 456),
                '2/admin,456["project:delete",123]',
            ),
            (SioPacket(SioType.ACK, "/admin", [], 456), "3/admin,456[]"),
            (
                SioPacket(SioType.CONNECT_ERROR, "/", {"message": "Not authorized"}),
                '4{"message":"Not authorized"}',
            ),
        ],
    )
    def test_packets_encode_and_decode_as_the_documents_show(
        self, packet: SioPacket, text: str
    ) -> None:
        assert sio.encode(packet) == [text]
        decoded = sio.decode(text)
        assert (decoded.type, decoded.namespace, decoded.data, decoded.id) == (
            packet.type,
            packet.namespace,
            packet.data,
            packet.id,
        )

    def test_binary_data_goes_as_placeholders_and_attachments(self) -> None:
        parts = sio.encode(SioPacket(SioType.EVENT, "/", ["hello", b"\x01\x02\x03"]))
        assert parts == ['51-["hello",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"]
        ack = sio.encode(SioPacket(SioType.ACK, "/admin", [b"\x03"], 456))
        assert ack == ['61-/admin,456[{"_placeholder":true,"num":0}]', b"\x03"]

    def test_a_binary_packet_is_complete_with_its_last_attachment(self) -> None:
        packet = sio.decode(
            '52-["upload",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]'
        )
        assert packet.attachments == 2
        assert sio.add_attachment(packet, b"a") is False
        assert sio.add_attachment(packet, b"b") is True
        assert packet.data == ["upload", b"b", b"a"]

    def test_a_placeholder_that_names_no_attachment_is_refused(self) -> None:
        packet = sio.decode('51-["upload",{"_placeholder":true,"num":3}]')
        with pytest.raises(sio.ProtocolError):
            sio.add_attachment(packet, b"a")

    def test_a_namespace_without_a_comma_ends_the_packet(self) -> None:
        packet = sio.decode("0/random")
        assert (packet.type, packet.namespace, packet.data) == (SioType.CONNECT, "/random", None)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "abc",  # unknown type
            "7",
            "2{}",  # an event's payload is an array
            "2[]",
            "2[1]",  # whose first element is the event name
            '2["connect"]',  # a reserved name
            '2abc["message-with-ack",1]',  # an ack id is digits
            "3[]",  # an ack without an id
            "1{}",  # DISCONNECT has no payload
            "0[1]",  # CONNECT's payload is an object
            '5["x"]',  # a binary packet names its attachments
            '50-["x"]',
            '2["unterminated"',
            "2" + "[" * 2000 + "]" * 2000,  # nesting deeper than the JSON parser allows
            '299999999999999999999["x"]',  # an ack id past JavaScript's integers
        ],
    )
    def test_invalid_packets_are_refused(self, text: str) -> None:
        with pytest.raises(sio.ProtocolError):
            sio.decode(text)

    def test_a_broadcast_event_is_plain_text(self) -> None:
        assert (
            sio.encode_event("/", "quote:update", {"s": "AAPL"}) == '2["quote:update",{"s":"AAPL"}]'
        )
        with pytest.raises(ValueError):
            sio.encode_event("/", "file", b"\x00")
