"""Property tests: whatever bytes a client sends, the core yields events or a ProtocolViolation.

Nothing else may escape (no IndexError, UnicodeDecodeError, struct.error, ...), and an
incomplete packet never occupies more than `max_packet + 5` bytes of memory.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.mqtt.protocol import packets
from commands.mqtt.protocol.connection import (
    ConnectRequested,
    Event,
    MqttConnection,
    ProtocolViolation,
    PublishReceived,
    SubscribeRequested,
    UnsubscribeRequested,
)
from commands.mqtt.protocol.packets import MAX_REMAINING_LENGTH, decode, encode

MAX_PACKET = 512
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ----------------------------------------------------------------------------

# Any character MQTT allows in a string: no surrogates (not UTF-8) and no U+0000.
_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_level = st.text(_characters.filter(lambda char: char not in "+#/"), max_size=6)
topic_names = st.lists(_level, min_size=1, max_size=4).map("/".join).filter(bool)
topic_filters = st.builds(
    lambda levels, tail: "/".join([*levels, *tail]),
    st.lists(st.one_of(_level, st.just("+")), min_size=0, max_size=4),
    st.sampled_from([[], ["#"]]),
).filter(bool)
packet_ids = st.integers(1, 65535)
payloads = st.binary(max_size=300)
qos_levels = st.integers(0, 2)


@st.composite
def publishes(draw: st.DrawFn) -> packets.Publish:
    qos = draw(qos_levels)
    return packets.Publish(
        draw(topic_names),
        draw(payloads),
        qos,
        draw(st.booleans()),
        draw(st.booleans()) if qos else False,
        draw(packet_ids) if qos else None,
    )


wills = st.builds(packets.Will, topic_names, st.binary(max_size=50), qos_levels, st.booleans())


@st.composite
def connects(draw: st.DrawFn) -> packets.Connect:
    username = draw(st.none() | st.text(_characters, max_size=10))
    return packets.Connect(
        draw(st.text(_characters, min_size=1, max_size=23)),
        draw(st.booleans()),
        draw(st.integers(0, 65535)),
        draw(st.none() | wills),
        username,
        draw(st.none() | st.binary(max_size=20)) if username is not None else None,
    )


client_packets = st.one_of(
    publishes(),
    st.builds(packets.Puback, packet_ids),
    st.builds(packets.Pubrec, packet_ids),
    st.builds(packets.Pubrel, packet_ids),
    st.builds(packets.Pubcomp, packet_ids),
    st.builds(
        packets.Subscribe, packet_ids, st.lists(st.tuples(topic_filters, qos_levels), min_size=1, max_size=4)
    ),
    st.builds(packets.Unsubscribe, packet_ids, st.lists(topic_filters, min_size=1, max_size=4)),
    st.just(packets.Pingreq()),
)
server_packets = st.one_of(
    st.builds(packets.Connack, st.just(True), st.just(0)),
    st.builds(packets.Connack, st.just(False), st.integers(0, 5)),
    st.builds(packets.Suback, packet_ids, st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=5)),
    st.builds(packets.Unsuback, packet_ids),
    st.just(packets.Pingresp()),
)
any_packets = st.one_of(connects(), client_packets, server_packets, st.just(packets.Disconnect()))


@st.composite
def client_streams(draw: st.DrawFn) -> bytes:
    """A well-formed session from a client: CONNECT, traffic, maybe DISCONNECT."""
    stream = [encode(draw(connects()))]
    stream += [encode(packet) for packet in draw(st.lists(client_packets, max_size=12))]
    if draw(st.booleans()):
        stream.append(packets.DISCONNECT)
    return b"".join(stream)


def _renumbered(packet: Any, packet_id: int) -> Any:
    # A PUBLISH is a NamedTuple (`packets.Publish`), the other packets frozen dataclasses.
    if isinstance(packet, packets.Publish):
        return packet._replace(packet_id=packet_id)
    return replace(packet, packet_id=packet_id)


@st.composite
def orderly_client_streams(draw: st.DrawFn) -> bytes:
    """A session whose meaning cannot depend on timing: every packet id is used once (so no
    acknowledgement can race the app's own publishes or acks) and no PUBREL precedes a PUBREC."""
    traffic = [
        packet
        for packet in draw(st.lists(client_packets, max_size=12))
        if not isinstance(packet, packets.Pubrel)
    ]
    traffic = [
        _renumbered(packet, 1000 + index) if getattr(packet, "packet_id", None) else packet
        for index, packet in enumerate(traffic)
    ]
    return encode(draw(connects())) + b"".join(encode(packet) for packet in traffic)


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at random places (sometimes into single bytes)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    if draw(st.integers(0, 9)) == 0:
        cuts = list(range(len(data)))
    bounds = [0, *cuts, len(data)]
    return [data[start:stop] for start, stop in zip(bounds, bounds[1:], strict=False)]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a few bytes flipped, inserted, deleted, or cut off."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "length"]))
        position = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if kind == "flip" and buffer:
            buffer[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and buffer:
            buffer[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            buffer[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del buffer[position : position + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del buffer[position:]
        elif kind == "length" and buffer:  # a huge or continued remaining length
            buffer[position : position + 1] = draw(st.sampled_from([b"\xff", b"\xff\xff\xff\x7f", b"\x80"]))
    return bytes(buffer)


# --- a stand-in for the app ----------------------------------------------------------------


def answer(conn: MqttConnection, events: list[Event]) -> None:
    for event in events:
        if conn.aborted:
            break
        if isinstance(event, ConnectRequested):
            conn.accept()
        elif isinstance(event, PublishReceived):
            conn.ack(event)
        elif isinstance(event, SubscribeRequested):
            conn.suback(event.packet_id, [min(qos, 1) for _, qos in event.subscriptions])
            if conn.can_publish_qos1 and not conn.should_close:
                conn.publish("plug/cmd", b"on", qos=1)
        elif isinstance(event, UnsubscribeRequested):
            conn.unsuback(event.packet_id)


def feed(conn: MqttConnection, chunks: list[bytes]) -> tuple[list[Event], bytes, ProtocolViolation | None]:
    """Drive the core like a transport; any exception but ProtocolViolation fails the test."""
    events: list[Event] = []
    output: list[bytes] = []
    for chunk in chunks:
        try:
            new = conn.receive(chunk)
        except ProtocolViolation as violation:
            assert conn.should_close and conn.close_reason == violation.reason
            assert violation.reason and len(violation.reason) < 120
            return events, b"".join(output), violation
        finally:
            assert conn.buffered_bytes <= conn.max_packet + 5
        answer(conn, new)
        events += new
        output.append(conn.data_to_send())
    return events, b"".join(output), None


# --- properties ----------------------------------------------------------------------------


@given(any_packets)
@settings(max_examples=300, deadline=None)
def test_every_packet_survives_a_round_trip(packet: packets.Packet) -> None:
    assert decode(encode(packet)) == packet


@given(st.integers(0, MAX_REMAINING_LENGTH))
def test_remaining_length_round_trip(length: int) -> None:
    encoded = packets.encode_remaining_length(length)
    assert packets.decode_remaining_length(encoded + b"\xff") == (length, len(encoded))


@given(st.data(), st.binary(max_size=2000), st.booleans())
@FUZZ
def test_random_bytes_yield_events_or_a_violation(
    data: st.DataObject, noise: bytes, connect_first: bool
) -> None:
    conn = MqttConnection(max_packet=MAX_PACKET, max_inflight=4)
    prefix = packets.encode_connect("fuzz") if connect_first else b""
    feed(conn, data.draw(chunkings(prefix + noise)))


@given(st.data(), client_streams())
@FUZZ
def test_mutated_sessions_yield_events_or_a_violation(data: st.DataObject, stream: bytes) -> None:
    conn = MqttConnection(max_packet=MAX_PACKET, max_inflight=4)
    feed(conn, data.draw(chunkings(data.draw(mutated(stream)))))


@given(st.data(), orderly_client_streams())
@FUZZ
def test_chunking_does_not_change_what_the_core_sees(data: st.DataObject, stream: bytes) -> None:
    whole = MqttConnection(max_inflight=4)
    whole_events, whole_output, whole_violation = feed(whole, [stream])
    split = MqttConnection(max_inflight=4)
    split_events, split_output, split_violation = feed(split, data.draw(chunkings(stream)))

    assert whole_violation is split_violation is None
    assert split_events == whole_events
    # Answers may interleave differently with the core's own (PINGRESP, PUBCOMP), but the
    # client gets the same packets.
    whole_packets = list(packets.PacketReader().feed(whole_output))
    split_packets = list(packets.PacketReader().feed(split_output))
    assert sorted(map(repr, split_packets)) == sorted(map(repr, whole_packets))


@given(st.integers(MAX_PACKET + 1, MAX_REMAINING_LENGTH), st.integers(0, 3))
@settings(deadline=None)
def test_an_oversized_header_is_refused_before_its_body(length: int, packet_type_index: int) -> None:
    first = (0x30, 0x82, 0xA2, 0x10)[packet_type_index]
    conn = MqttConnection(max_packet=MAX_PACKET)
    if first != 0x10:
        conn.receive(packets.encode_connect("fuzz"))
        conn.accept()
    header = bytes((first,)) + packets.encode_remaining_length(length)
    try:
        conn.receive(header)
    except ProtocolViolation as violation:
        assert "exceeds" in violation.reason
    else:
        raise AssertionError("an oversized packet was accepted")
    assert conn.buffered_bytes == 0
