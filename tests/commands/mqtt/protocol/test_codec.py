"""The MQTT 3.1.1 wire format: exact bytes, strict decoding, topics, and a real client's bytes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from commands.mqtt.protocol import packets
from commands.mqtt.protocol.connection import (
    ConnectRequested,
    DisconnectRequested,
    Event,
    MqttConnection,
    PubackReceived,
    PublishReceived,
    SubscribeRequested,
    UnsubscribeRequested,
)
from commands.mqtt.protocol.packets import (
    Connack,
    Connect,
    Disconnect,
    PacketReader,
    Pingreq,
    Pingresp,
    ProtocolViolation,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
    UnsupportedProtocolLevel,
    Will,
    decode,
    decode_remaining_length,
    encode,
    encode_remaining_length,
)
from commands.mqtt.protocol.topics import (
    InvalidTopic,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)

# --- remaining length ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_uses_the_boundaries_of_the_standard(length: int, encoded: bytes) -> None:
    assert encode_remaining_length(length) == encoded
    assert decode_remaining_length(encoded) == (length, len(encoded))


def test_remaining_length_needs_more_bytes_while_the_continuation_bit_is_set() -> None:
    assert decode_remaining_length(b"\x80\x80") is None
    assert decode_remaining_length(b"") is None


def test_remaining_length_of_five_bytes_is_refused_at_the_fourth() -> None:
    with pytest.raises(ProtocolViolation, match="longer than 4 bytes"):
        decode_remaining_length(b"\xff\xff\xff\xff")


def test_remaining_length_above_the_maximum_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        encode_remaining_length(268_435_456)


# --- exact bytes ---------------------------------------------------------------------------


def test_connect_bytes() -> None:
    encoded = packets.encode_connect("dev-x", keepalive=60)
    assert encoded == b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05dev-x"


def test_connect_with_will_and_credentials_sets_every_flag() -> None:
    encoded = packets.encode_connect(
        "d",
        clean_session=False,
        keepalive=25,
        will=Will("w", b"bye", qos=1, retain=True),
        username="u",
        password=b"p",
    )
    flags = encoded[9]  # after type, length, protocol name and level
    assert flags == 0b1110_1100
    assert encoded.endswith(b"\x00\x01d\x00\x01w\x00\x03bye\x00\x01u\x00\x01p")


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (packets.encode_connack(False, 0), b"\x20\x02\x00\x00"),
        (packets.encode_connack(True, 0), b"\x20\x02\x01\x00"),
        (packets.encode_connack(False, 5), b"\x20\x02\x00\x05"),
        (packets.encode_publish("a/b", b"hi"), b"\x30\x07\x00\x03a/bhi"),
        (
            packets.encode_publish("a", b"", 1, retain=True, dup=True, packet_id=10),
            b"\x3b\x05\x00\x01a\x00\x0a",
        ),
        (packets.encode_publish("a", b"x", 2, packet_id=0x0102), b"\x34\x06\x00\x01a\x01\x02x"),
        (packets.encode_puback(1), b"\x40\x02\x00\x01"),
        (packets.encode_pubrec(2), b"\x50\x02\x00\x02"),
        (packets.encode_pubrel(3), b"\x62\x02\x00\x03"),
        (packets.encode_pubcomp(65535), b"\x70\x02\xff\xff"),
        (
            packets.encode_subscribe(1, [("a/+", 1), ("#", 0)]),
            b"\x82\x0c\x00\x01\x00\x03a/+\x01\x00\x01#\x00",
        ),
        (packets.encode_suback(1, [1, 0x80]), b"\x90\x04\x00\x01\x01\x80"),
        (packets.encode_unsubscribe(7, ["a/#"]), b"\xa2\x07\x00\x07\x00\x03a/#"),
        (packets.encode_unsuback(7), b"\xb0\x02\x00\x07"),
        (packets.encode_pingreq(), b"\xc0\x00"),
        (packets.encode_pingresp(), b"\xd0\x00"),
        (packets.encode_disconnect(), b"\xe0\x00"),
    ],
)
def test_packet_bytes(encoded: bytes, expected: bytes) -> None:
    assert encoded == expected


def test_publish_with_a_long_payload_uses_a_multi_byte_remaining_length() -> None:
    encoded = packets.encode_publish("t", b"x" * 200)
    assert encoded[:3] == b"\x30\xcb\x01"  # 3 + 200 = 203 = 0x4b + 1 * 128
    assert decode(encoded) == Publish("t", b"x" * 200)


ALL_PACKETS = [
    Connect("dev-1"),
    Connect(
        "dev-2", False, 25, Will("plug/status", b"offline", 1, True), username="key", password=b"\x00secret"
    ),
    Connect("", True, 0, None, username="only-user"),
    Connack(True, 0),
    Connack(False, 4),
    Publish("a/b", b"payload"),
    Publish("a/b", b"", 1, True, True, 1),
    Publish("€/ü", b"\x00\xff", 2, False, False, 65535),
    Puback(1),
    Pubrec(2),
    Pubrel(3),
    Pubcomp(4),
    Subscribe(5, [("a/+/c", 0), ("sport/#", 1), ("#", 2)]),
    Suback(5, [0, 1, 2, 0x80]),
    Unsubscribe(6, ["a/+/c", "#"]),
    Unsuback(6),
    Pingreq(),
    Pingresp(),
    Disconnect(),
]


@pytest.mark.parametrize("packet", ALL_PACKETS, ids=lambda packet: type(packet).__name__)
def test_every_packet_survives_a_round_trip(packet: packets.Packet) -> None:
    assert decode(encode(packet)) == packet


# --- strict decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00", "reserved packet type 0"),
        (b"\xf0\x00", "reserved packet type 15"),
        (b"\x82\x05\x00\x01", "incomplete packet"),
        (b"\xc0\x00\x00", "bytes after the packet"),
        (b"\xc0", "incomplete fixed header"),
        (b"\x40\x03\x00\x01\x00", "PUBACK with remaining length 3"),
        (b"\x40\x02\x00\x00", "packet identifier 0"),
        (b"\x20\x02\x02\x00", "reserved CONNACK flag"),
        (b"\x20\x02\x00\x06", "unknown CONNACK return code"),
        (b"\x20\x02\x01\x05", "session present on a refused connection"),
        (b"\x90\x03\x00\x01\x03", "unknown SUBACK return code"),
        (b"\x90\x02\x00\x01", "SUBACK without return codes"),
        (b"\x30\x02\x00\x05", "topic truncated"),
        (b"\x32\x03\x00\x01a", "without packet identifier"),
        (b"\x32\x05\x00\x01a\x00\x00", "packet identifier 0"),
        (b"\x30\x04\x00\x02\xed\xa0", "not valid UTF-8"),  # an encoded surrogate
        (b"\x30\x04\x00\x02\xc0\xaf", "not valid UTF-8"),  # an overlong '/'
    ],
)
def test_malformed_bytes_are_protocol_violations(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolViolation, match=reason):
        decode(data)


def test_connect_from_mqtt_3_1_is_an_unsupported_level() -> None:
    mqtt31 = packets.encode_connect("old", protocol_name="MQIsdp", protocol_level=3)
    with pytest.raises(UnsupportedProtocolLevel) as refusal:
        decode(mqtt31)
    assert refusal.value.level == 3


def test_encoders_refuse_to_build_malformed_packets() -> None:
    with pytest.raises(InvalidTopic):
        packets.encode_publish("a/+", b"")
    with pytest.raises(ValueError):
        packets.encode_publish("a", b"", 1)  # no packet id
    with pytest.raises(ValueError):
        packets.encode_publish("a", b"", 0, dup=True)
    with pytest.raises(ValueError):
        packets.encode_puback(0)
    with pytest.raises(ValueError):
        packets.encode_suback(1, [3])
    with pytest.raises(ValueError):
        packets.encode_connect("c", password=b"p")


# --- packet reader -------------------------------------------------------------------------


def test_reader_joins_a_packet_fed_byte_by_byte() -> None:
    stream = packets.encode_publish("a/b", b"x" * 300, 1, packet_id=9) + packets.PINGREQ
    reader = PacketReader()
    decoded = [packet for index in range(len(stream)) for packet in reader.feed(stream[index : index + 1])]
    assert decoded == [Publish("a/b", b"x" * 300, 1, packet_id=9), Pingreq()]
    assert reader.buffered_bytes == 0


def test_reader_splits_several_packets_in_one_chunk() -> None:
    stream = (
        packets.encode_puback(1) + packets.encode_pubrec(2) + packets.PINGRESP + packets.encode_puback(3)[:3]
    )
    reader = PacketReader()
    assert list(reader.feed(stream)) == [Puback(1), Pubrec(2), Pingresp()]
    assert reader.buffered_bytes == 3
    assert list(reader.feed(b"\x03")) == [Puback(3)]


def test_reader_refuses_an_oversized_packet_from_its_header_alone() -> None:
    reader = PacketReader(max_packet=100)
    with pytest.raises(ProtocolViolation, match="exceeds the 100-byte limit"):
        list(reader.feed(b"\x30\x65"))


# --- topics --------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["a", "a/b", "/", "a//b", "$SYS/x", "csipio/data/out/devices/1/json", "ü"])
def test_valid_topic_names(topic: str) -> None:
    validate_topic_name(topic)


@pytest.mark.parametrize("topic", ["", "a/+", "a/#", "a+b", "a\x00b", "\ud800", "x" * 65536])
def test_invalid_topic_names(topic: str) -> None:
    with pytest.raises(InvalidTopic):
        validate_topic_name(topic)


@pytest.mark.parametrize("topic_filter", ["#", "+", "a/#", "a/+/b", "+/+", "/+", "a//#", "$SYS/#", "a/b"])
def test_valid_topic_filters(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize("topic_filter", ["", "a/#/b", "a#", "#/a", "a/b#", "a+", "+a/b", "a/+b", "\x00"])
def test_invalid_topic_filters(topic_filter: str) -> None:
    with pytest.raises(InvalidTopic):
        validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "sport/tennis", True),
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("#", "$SYS/uptime", False),
        ("+/uptime", "$SYS/uptime", False),
        ("$SYS/#", "$SYS/uptime", True),
        ("$SYS/+", "$SYS/uptime", True),
        ("+/data/#", "plug-1/data/temp/room", True),
        ("+/data/#", "plug-1/other/temp", False),
    ],
)
def test_topic_matching_follows_mqtt_3_1_1(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


# --- a real client -------------------------------------------------------------------------


def _poll(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def _serve_one_client(listener: socket.socket, seen: list[Event], errors: list[BaseException]) -> None:
    """A minimal transport: bytes from the socket into the core, its answers back out."""
    try:
        sock, _ = listener.accept()
        with sock:
            sock.settimeout(10)
            conn = MqttConnection()
            while not conn.closed:
                data = sock.recv(65536)
                if not data:
                    break
                for event in conn.receive(data):
                    if conn.aborted:
                        break
                    seen.append(event)
                    match event:
                        case ConnectRequested():
                            conn.accept(session_present=False)
                        case SubscribeRequested():
                            conn.suback(event.packet_id, [min(qos, 1) for _, qos in event.subscriptions])
                            conn.publish("plug/commands/relay", b"on", qos=1)
                        case UnsubscribeRequested():
                            conn.unsuback(event.packet_id)
                        case PublishReceived():
                            conn.ack(event)
                sock.sendall(conn.data_to_send())
    except BaseException as error:  # reported to the test thread
        errors.append(error)


def test_paho_client_connects_subscribes_publishes_and_disconnects() -> None:
    seen: list[Event] = []
    errors: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]
        server = threading.Thread(target=_serve_one_client, args=(listener, seen, errors), daemon=True)
        server.start()

        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="dev-x", protocol=mqtt.MQTTv311
        )
        client.username_pw_set("key-1", "s3cret")
        client.will_set("plug/status", b"offline", qos=1, retain=True)
        messages: list[mqtt.MQTTMessage] = []
        client.on_message = lambda _client, _userdata, message: messages.append(message)
        client.connect("127.0.0.1", port, keepalive=25)
        client.loop_start()
        try:
            _poll(client.is_connected)
            client.subscribe("plug/commands/#", qos=1)
            _poll(lambda: bool(messages))
            for qos in (0, 1, 2):
                client.publish("plug/data/temp", f"21.{qos}".encode(), qos=qos).wait_for_publish(timeout=10)
            client.unsubscribe("plug/commands/#")
            _poll(lambda: any(isinstance(event, UnsubscribeRequested) for event in seen))
            client.disconnect()
            server.join(timeout=10)
        finally:
            client.loop_stop()

    assert not errors
    assert not server.is_alive()
    assert seen[0] == ConnectRequested(
        client_id="dev-x",
        username="key-1",
        password=b"s3cret",
        clean_session=True,
        keepalive=25,
        will=Will("plug/status", b"offline", qos=1, retain=True),
    )
    subscribe = next(event for event in seen if isinstance(event, SubscribeRequested))
    assert subscribe.subscriptions == [("plug/commands/#", 1)]
    assert [(message.topic, message.payload, message.qos) for message in messages] == [
        ("plug/commands/relay", b"on", 1)
    ]
    assert PubackReceived(1) in seen  # paho acknowledged our QoS 1 command
    publishes = [event for event in seen if isinstance(event, PublishReceived)]
    assert [(event.topic, event.payload, event.qos) for event in publishes] == [
        ("plug/data/temp", b"21.0", 0),
        ("plug/data/temp", b"21.1", 1),
        ("plug/data/temp", b"21.2", 2),
    ]
    assert seen[-1] == DisconnectRequested()
