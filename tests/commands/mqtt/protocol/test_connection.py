"""The per-connection MQTT 3.1.1 state machine, driven with plain byte strings."""

from __future__ import annotations

import re

import pytest

from commands.mqtt.protocol import packets
from commands.mqtt.protocol.connection import (
    ConnectRequested,
    DisconnectRequested,
    InflightWindowFull,
    MqttConnection,
    ProtocolViolation,
    PubackReceived,
    PublishReceived,
    SubscribeRequested,
    UnsubscribeRequested,
    Will,
)
from commands.mqtt.protocol.packets import Publish

CONNECT = packets.encode_connect("plug-1", keepalive=25, username="key-1", password=b"secret")
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"


def connected(**options: int) -> MqttConnection:
    """A connection past CONNECT/CONNACK with nothing left to send."""
    conn = MqttConnection(**options)
    [event] = conn.receive(CONNECT)
    assert isinstance(event, ConnectRequested)
    conn.accept()
    assert conn.data_to_send() == CONNACK_ACCEPTED
    return conn


def publish(
    topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None, dup: bool = False
) -> bytes:
    return packets.encode_publish(topic, payload, qos, packet_id=packet_id, dup=dup)


# --- connecting ----------------------------------------------------------------------------


def test_connect_is_handed_to_the_app_and_accept_sends_connack() -> None:
    conn = MqttConnection()
    will = Will("plug-1/status", b"gone", qos=1, retain=True)
    events = conn.receive(
        packets.encode_connect(
            "plug-1", clean_session=False, keepalive=25, will=will, username="k", password=b"p"
        )
    )
    assert events == [ConnectRequested("plug-1", "k", b"p", False, 25, will)]
    assert conn.data_to_send() == b""  # nothing until the app decides
    assert conn.will == will
    conn.accept(session_present=True)
    assert conn.data_to_send() == b"\x20\x02\x01\x00"
    assert conn.accepted
    assert conn.keepalive_limit == 37.5


def test_a_clean_session_never_reports_a_session_present() -> None:
    conn = MqttConnection()
    conn.receive(packets.encode_connect("plug-1", clean_session=True))
    conn.accept(session_present=True)
    assert conn.data_to_send() == CONNACK_ACCEPTED


def test_keepalive_zero_means_no_limit() -> None:
    conn = MqttConnection()
    conn.receive(packets.encode_connect("plug-1", keepalive=0))
    assert conn.keepalive_limit is None


def test_refuse_sends_the_code_and_closes_after_the_bytes_are_taken() -> None:
    conn = MqttConnection()
    conn.receive(CONNECT + publish("a", b"late"))
    conn.refuse(packets.CONNACK_BAD_CREDENTIALS)
    assert conn.should_close and conn.aborted and not conn.closed
    assert conn.data_to_send() == b"\x20\x02\x00\x04"
    assert conn.closed
    assert conn.close_reason == "connection refused with CONNACK 4"
    assert conn.will is None
    conn.ack(PublishReceived("a", b"late", 1, False, False, 1))
    assert conn.data_to_send() == b""  # answers after a refusal are ignored
    assert conn.receive(publish("a", b"more")) == []


@pytest.mark.parametrize(
    "connect",
    [
        packets.encode_connect("plug-1", protocol_level=5),
        packets.encode_connect("plug-1", protocol_level=3),
        packets.encode_connect("plug-1", protocol_name="MQIsdp", protocol_level=3),
    ],
)
def test_another_protocol_level_gets_connack_1_without_an_event(connect: bytes) -> None:
    conn = MqttConnection()
    assert conn.receive(connect + packets.PINGREQ) == []
    assert conn.data_to_send() == b"\x20\x02\x00\x01"
    assert conn.closed
    assert conn.close_reason is not None and "protocol level" in conn.close_reason


def test_empty_client_id_with_a_persistent_session_gets_connack_2() -> None:
    conn = MqttConnection()
    assert conn.receive(packets.encode_connect("", clean_session=False)) == []
    assert conn.data_to_send() == b"\x20\x02\x00\x02"
    assert conn.closed


def test_empty_client_id_with_a_clean_session_is_for_the_app_to_decide() -> None:
    conn = MqttConnection()
    [event] = conn.receive(packets.encode_connect("", clean_session=True))
    assert isinstance(event, ConnectRequested) and event.client_id == ""


def test_packets_sent_right_after_connect_arrive_in_order() -> None:
    conn = MqttConnection()
    events = conn.receive(CONNECT + publish("a/b", b"1") + packets.encode_subscribe(1, [("c/#", 1)]))
    assert [type(event) for event in events] == [ConnectRequested, PublishReceived, SubscribeRequested]


def test_answers_to_pipelined_packets_wait_for_the_connack() -> None:
    conn = MqttConnection()
    events = conn.receive(CONNECT + packets.PINGREQ + publish("a", b"1", qos=1, packet_id=1))
    assert conn.data_to_send() == b""
    assert isinstance(events[1], PublishReceived)
    conn.ack(events[1])  # the app answers out of order: still sent after the CONNACK
    conn.accept()
    assert conn.data_to_send() == CONNACK_ACCEPTED + b"\xd0\x00" + b"\x40\x02\x00\x01"


def test_refusal_drops_answers_to_pipelined_packets() -> None:
    conn = MqttConnection()
    conn.receive(CONNECT + packets.PINGREQ)
    conn.refuse(packets.CONNACK_NOT_AUTHORIZED)
    assert conn.data_to_send() == b"\x20\x02\x00\x05"


def test_app_answers_out_of_turn_are_programming_errors() -> None:
    conn = MqttConnection()
    with pytest.raises(RuntimeError):
        conn.accept()
    conn.receive(CONNECT)
    with pytest.raises(RuntimeError):
        conn.publish("a", b"", 0)  # before CONNACK
    with pytest.raises(ValueError):
        conn.refuse(0)
    conn.accept()
    with pytest.raises(RuntimeError):
        conn.accept()


# --- protocol violations -------------------------------------------------------------------


def _subscribe_body(*parts: bytes) -> bytes:
    body = b"\x00\x01" + b"".join(parts)
    return b"\x82" + packets.encode_remaining_length(len(body)) + body


def _connect_with_flags(flags: int, payload: bytes = b"\x00\x01c") -> bytes:
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + b"\x00\x00" + payload
    return b"\x10" + packets.encode_remaining_length(len(body)) + body


BEFORE_CONNECT_VIOLATIONS = [
    pytest.param(publish("a", b""), "first packet is not CONNECT", id="publish-first"),
    pytest.param(packets.PINGREQ, "first packet is not CONNECT", id="ping-first"),
    pytest.param(_connect_with_flags(0b0000_0011), "reserved CONNECT flag", id="reserved-flag"),
    pytest.param(_connect_with_flags(0b0000_1010), "will QoS or retain set without will", id="will-qos"),
    pytest.param(_connect_with_flags(0b0010_0010), "will QoS or retain set without will", id="will-retain"),
    pytest.param(
        _connect_with_flags(0b0001_1110, b"\x00\x01c\x00\x01w\x00\x00"), "will QoS 3", id="will-qos-3"
    ),
    pytest.param(
        _connect_with_flags(0b0000_0110, b"\x00\x01c\x00\x01#\x00\x00"), "wildcard", id="will-topic-wildcard"
    ),
    pytest.param(_connect_with_flags(0b0100_0010, b"\x00\x01c\x00\x01p"), "password without", id="password"),
    pytest.param(_connect_with_flags(0b1000_0010), "username truncated", id="missing-username"),
    pytest.param(_connect_with_flags(0b0000_0010, b"\x00\x01c!"), "trailing bytes", id="trailing"),
    pytest.param(_connect_with_flags(0b0000_0010, b"\x00\x02c\x00"), "U+0000", id="nul-client-id"),
    pytest.param(_connect_with_flags(0b0000_0010, b"\x00\x01\xff"), "UTF-8", id="bad-utf8-client-id"),
    pytest.param(packets.encode_connect("c", protocol_name="MQTX"), "unknown protocol name", id="name"),
]


@pytest.mark.parametrize(("data", "reason"), BEFORE_CONNECT_VIOLATIONS)
def test_violations_before_the_connection_is_up(data: bytes, reason: str) -> None:
    conn = MqttConnection()
    with pytest.raises(ProtocolViolation, match=re.escape(reason)):
        conn.receive(data)
    assert conn.closed
    assert conn.data_to_send() == b""


CONNECTED_VIOLATIONS = [
    pytest.param(CONNECT, "second CONNECT", id="second-connect"),
    pytest.param(packets.encode_connect("c", protocol_level=5), "second CONNECT", id="second-connect-v5"),
    pytest.param(b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes", id="5-byte-length"),
    pytest.param(b"\x30\x04\x00\x02\xc3\x28", "not valid UTF-8", id="bad-utf8-topic"),
    pytest.param(b"\x30\x03\x00\x01\x00", "U+0000", id="nul-topic"),
    pytest.param(publish("a", b"")[:2] + b"\x00\x01+", "wildcard", id="plus-topic"),
    pytest.param(b"\x30\x05\x00\x03a/#", "wildcard", id="hash-topic"),
    pytest.param(b"\x30\x02\x00\x00", "empty topic", id="empty-topic"),
    pytest.param(b"\x36\x05\x00\x01a\x00\x01", "QoS 3", id="qos-3"),
    pytest.param(b"\x38\x03\x00\x01a", "QoS 0 PUBLISH with DUP", id="qos0-dup"),
    pytest.param(
        b"\x80" + _subscribe_body(b"\x00\x01a\x00")[1:], "flags for SUBSCRIBE", id="subscribe-flags"
    ),
    pytest.param(b"\xa0\x05\x00\x01\x00\x01a", "flags for UNSUBSCRIBE", id="unsubscribe-flags"),
    pytest.param(b"\x60\x02\x00\x01", "flags for PUBREL", id="pubrel-flags"),
    pytest.param(b"\x42\x02\x00\x01", "flags for PUBACK", id="puback-flags"),
    pytest.param(b"\x20\x02\x00\x00", "CONNACK is sent by servers only", id="connack"),
    pytest.param(b"\x90\x03\x00\x01\x00", "SUBACK is sent by servers only", id="suback"),
    pytest.param(b"\xb0\x02\x00\x01", "UNSUBACK is sent by servers only", id="unsuback"),
    pytest.param(b"\xd0\x00", "PINGRESP is sent by servers only", id="pingresp"),
    pytest.param(b"\x00\x00", "reserved packet type 0", id="type-0"),
    pytest.param(b"\xf0\x00", "reserved packet type 15", id="type-15"),
    pytest.param(b"\xc0\x01\x00", "PINGREQ with remaining length 1", id="ping-trailing"),
    pytest.param(b"\x40\x03\x00\x01\x00", "PUBACK with remaining length 3", id="puback-trailing"),
    pytest.param(_subscribe_body(b"\x00\x01a\x00\x00"), "topic filter truncated", id="subscribe-trailing"),
    pytest.param(_subscribe_body(b"\x00\x01a"), "without requested QoS", id="subscribe-no-qos"),
    pytest.param(_subscribe_body(), "SUBSCRIBE without topic filters", id="subscribe-empty"),
    pytest.param(_subscribe_body(b"\x00\x01a\x03"), "requested QoS 3", id="subscribe-qos-3"),
    pytest.param(_subscribe_body(b"\x00\x01a\x04"), "reserved bits", id="subscribe-reserved-bits"),
    pytest.param(_subscribe_body(b"\x00\x05a/#/b\x00"), "'#' must be", id="subscribe-hash-middle"),
    pytest.param(_subscribe_body(b"\x00\x02a+\x00"), "'+' must be", id="subscribe-plus-partial"),
    pytest.param(_subscribe_body(b"\x00\x00\x00"), "empty topic filter", id="subscribe-empty-filter"),
    pytest.param(b"\x82\x05\x00\x00\x00\x01a", "packet identifier 0", id="subscribe-id-0"),
    pytest.param(b"\xa2\x02\x00\x01", "UNSUBSCRIBE without topic filters", id="unsubscribe-empty"),
    pytest.param(b"\xa2\x06\x00\x01\x00\x02#a", "'#' must be", id="unsubscribe-bad-filter"),
    pytest.param(b"\x32\x05\x00\x01a\x00\x00", "packet identifier 0", id="publish-id-0"),
]


@pytest.mark.parametrize(("data", "reason"), CONNECTED_VIOLATIONS)
def test_violations_on_an_open_connection(data: bytes, reason: str) -> None:
    conn = connected()
    with pytest.raises(ProtocolViolation, match=re.escape(reason)) as violation:
        conn.receive(data)
    assert conn.should_close and conn.closed
    assert conn.close_reason == violation.value.reason
    assert conn.receive(packets.PINGREQ) == []  # input after the violation is ignored
    assert conn.data_to_send() == b""


def test_an_oversized_packet_is_refused_from_its_fixed_header() -> None:
    conn = connected(max_packet=1024)
    with pytest.raises(ProtocolViolation, match="1025 bytes exceeds the 1024-byte limit"):
        conn.receive(b"\x30\x81\x08")  # remaining length 1025, none of the body sent
    assert conn.buffered_bytes <= 1024 + 5


def test_a_packet_at_the_limit_is_accepted_and_buffered_within_bounds() -> None:
    conn = connected(max_packet=1024)
    data = publish("t", b"x" * (1024 - 3))
    for index in range(len(data) - 1):
        assert conn.receive(data[index : index + 1]) == []
        assert conn.buffered_bytes <= 1024 + 5
    [event] = conn.receive(data[-1:])
    assert isinstance(event, PublishReceived) and len(event.payload) == 1021
    assert conn.buffered_bytes == 0


def test_a_violation_is_raised_even_when_valid_packets_precede_it_in_the_chunk() -> None:
    conn = connected()
    with pytest.raises(ProtocolViolation):
        conn.receive(publish("a", b"1") + b"\xd0\x00")
    assert conn.will is None  # no will was given; a transport publishes conn.will when set


def test_the_will_survives_a_violation_so_the_transport_can_publish_it() -> None:
    conn = MqttConnection()
    will = Will("plug-1/status", b"lost")
    conn.receive(packets.encode_connect("plug-1", will=will))
    conn.accept()
    with pytest.raises(ProtocolViolation):
        conn.receive(b"\xff")
    assert conn.will == will


# --- inbound publishes ---------------------------------------------------------------------


def test_qos0_publish_needs_no_answer() -> None:
    conn = connected()
    [event] = conn.receive(publish("plug-1/data/temp", b'{"data": 21}'))
    assert event == PublishReceived("plug-1/data/temp", b'{"data": 21}', 0, False, False, None)
    conn.ack(event)
    assert conn.data_to_send() == b""


def test_qos1_publish_is_acknowledged_only_when_the_app_says_so() -> None:
    conn = connected()
    [event] = conn.receive(publish("a", b"1", qos=1, packet_id=42))
    assert event == PublishReceived("a", b"1", 1, False, False, 42)
    assert conn.data_to_send() == b""
    conn.ack(event)
    assert conn.data_to_send() == b"\x40\x02\x00\x2a"


def test_qos1_duplicates_are_delivered_again() -> None:
    conn = connected()
    first = conn.receive(publish("a", b"1", qos=1, packet_id=7))
    again = conn.receive(publish("a", b"1", qos=1, packet_id=7, dup=True))
    assert len(first) == len(again) == 1
    assert isinstance(again[0], PublishReceived) and again[0].dup


def test_qos2_publish_is_delivered_exactly_once() -> None:
    conn = connected()
    [event] = conn.receive(publish("a", b"2", qos=2, packet_id=5))
    assert isinstance(event, PublishReceived) and event.qos == 2
    conn.ack(event)
    assert conn.data_to_send() == b"\x50\x02\x00\x05"  # PUBREC
    # The client did not see PUBREC and re-sends: no second delivery, PUBREC again.
    assert conn.receive(publish("a", b"2", qos=2, packet_id=5, dup=True)) == []
    assert conn.data_to_send() == b"\x50\x02\x00\x05"
    assert conn.receive(b"\x62\x02\x00\x05") == []  # PUBREL
    assert conn.data_to_send() == b"\x70\x02\x00\x05"  # PUBCOMP
    # The id is released: the next PUBLISH with it is a new message.
    assert len(conn.receive(publish("a", b"3", qos=2, packet_id=5))) == 1


def test_qos2_duplicate_before_the_app_acks_waits_for_that_ack() -> None:
    conn = connected()
    [event] = conn.receive(publish("a", b"2", qos=2, packet_id=5))
    assert isinstance(event, PublishReceived)
    assert conn.receive(publish("a", b"2", qos=2, packet_id=5, dup=True)) == []
    assert conn.data_to_send() == b""
    conn.ack(event)
    conn.ack(event)  # a second ack does not send a second PUBREC
    assert conn.data_to_send() == b"\x50\x02\x00\x05"


def test_pubrel_before_pubrec_is_a_violation() -> None:
    conn = connected()
    conn.receive(publish("a", b"2", qos=2, packet_id=5))
    with pytest.raises(ProtocolViolation, match="PUBREL before PUBREC"):
        conn.receive(b"\x62\x02\x00\x05")


def test_pubrel_for_an_unknown_id_is_completed() -> None:
    conn = connected()
    assert conn.receive(b"\x62\x02\x00\x09") == []
    assert conn.data_to_send() == b"\x70\x02\x00\x09"


def test_retain_flag_is_reported() -> None:
    conn = connected()
    [event] = conn.receive(packets.encode_publish("a", b"", 1, retain=True, packet_id=1))
    assert isinstance(event, PublishReceived) and event.retain


# --- subscriptions -------------------------------------------------------------------------


def test_subscribe_and_suback() -> None:
    conn = connected()
    [event] = conn.receive(packets.encode_subscribe(3, [("plug-1/data/#", 1), ("+/data/#", 2), ("x/y", 0)]))
    assert event == SubscribeRequested(3, [("plug-1/data/#", 1), ("+/data/#", 2), ("x/y", 0)])
    conn.suback(3, [1, 1, 0x80])
    assert conn.data_to_send() == b"\x90\x05\x00\x03\x01\x01\x80"


def test_suback_must_answer_every_filter() -> None:
    conn = connected()
    conn.receive(packets.encode_subscribe(3, [("a", 1), ("b", 1)]))
    with pytest.raises(ValueError):
        conn.suback(3, [1])
    with pytest.raises(ValueError):
        conn.suback(3, [1, 3])


def test_unsubscribe_and_unsuback() -> None:
    conn = connected()
    [event] = conn.receive(packets.encode_unsubscribe(4, ["a/#", "b"]))
    assert event == UnsubscribeRequested(4, ["a/#", "b"])
    assert event.filters == ["a/#", "b"]
    conn.unsuback(4)
    assert conn.data_to_send() == b"\xb0\x02\x00\x04"


# --- outbound publishes --------------------------------------------------------------------


def test_qos0_publish_to_the_client() -> None:
    conn = connected()
    assert conn.publish("csipio/data/in/devices/1/properties/relay", b"true", qos=0, retain=True) is None
    assert packets.decode(conn.data_to_send()) == Publish(
        "csipio/data/in/devices/1/properties/relay", b"true", 0, retain=True
    )


def test_qos1_publish_waits_for_puback() -> None:
    conn = connected()
    packet_id = conn.publish("cmd", b"on", qos=1)
    assert packet_id == 1
    assert conn.data_to_send() == b"\x32\x09\x00\x03cmd\x00\x01on"
    assert conn.inflight_count == 1
    assert conn.receive(b"\x40\x02\x00\x01") == [PubackReceived(1)]
    assert conn.inflight_count == 0


def test_puback_for_an_unknown_id_is_ignored() -> None:
    conn = connected()
    assert conn.receive(b"\x40\x02\x00\x63") == []
    assert not conn.should_close


def test_pubrec_and_pubcomp_for_unknown_ids_are_ignored() -> None:
    conn = connected()
    assert conn.receive(b"\x50\x02\x00\x01\x70\x02\x00\x01") == []
    assert not conn.should_close


def test_the_inflight_window_is_bounded() -> None:
    conn = connected(max_inflight=2)
    assert conn.publish("a", b"", 1) == 1
    assert conn.publish("a", b"", 1) == 2
    assert not conn.can_publish_qos1
    with pytest.raises(InflightWindowFull):
        conn.publish("a", b"", 1)
    assert conn.publish("a", b"", 0) is None  # QoS 0 is not held back
    conn.receive(b"\x40\x02\x00\x01")
    assert conn.can_publish_qos1
    assert conn.publish("a", b"", 1) == 3


def test_packet_ids_wrap_and_skip_ids_in_flight() -> None:
    conn = connected(max_inflight=3)
    conn._last_packet_id = 65533  # as if 65533 publishes went before
    assert conn.publish("a", b"", 1) == 65534
    assert conn.publish("a", b"", 1) == 65535
    assert conn.publish("a", b"", 1) == 1
    conn.receive(b"\x40\x02\xff\xff")  # 65535 acknowledged, 65534 and 1 still in flight
    conn._last_packet_id = 65533
    assert conn.publish("a", b"", 1) == 65535
    conn.receive(b"\x40\x02\xff\xfe\x40\x02\x00\x01")
    assert conn.publish("a", b"", 1) == 1


def test_outbound_qos2_is_not_supported() -> None:
    conn = connected()
    with pytest.raises(ValueError):
        conn.publish("a", b"", 2)


def test_resend_unacked_sets_dup_and_keeps_order_and_ids() -> None:
    conn = connected()
    conn.publish("a", b"1", 1)
    conn.publish("b", b"2", 1)
    conn.receive(b"\x40\x02\x00\x01")
    conn.publish("c", b"3", 1)
    conn.data_to_send()
    assert conn.resend_unacked() == 2
    stream = conn.data_to_send()
    reader = packets.PacketReader()
    assert list(reader.feed(stream)) == [
        Publish("b", b"2", 1, dup=True, packet_id=2),
        Publish("c", b"3", 1, dup=True, packet_id=3),
    ]


def test_unacked_publishes_carry_over_to_the_next_connection() -> None:
    old = connected()
    old.publish("cmd/1", b"on", 1)
    old.publish("cmd/2", b"off", 1)
    unacked = old.unacked_publishes()
    assert [(publish.topic, publish.packet_id) for publish in unacked] == [("cmd/1", 1), ("cmd/2", 2)]

    new = connected()
    new.restore_unacked(unacked)
    resent = list(packets.PacketReader().feed(new.data_to_send()))
    assert [(packet.packet_id, packet.dup) for packet in resent if isinstance(packet, Publish)] == [
        (1, True),
        (2, True),
    ]
    assert new.publish("cmd/3", b"x", 1) == 3  # restored ids stay reserved
    assert new.receive(b"\x40\x02\x00\x01") == [PubackReceived(1)]


# --- keep-alive and disconnect -------------------------------------------------------------


def test_pingreq_is_answered_by_the_core_and_counts_as_activity() -> None:
    conn = connected()
    before = conn.last_activity_count
    assert conn.receive(packets.PINGREQ + packets.PINGREQ) == []
    assert conn.data_to_send() == b"\xd0\x00\xd0\x00"
    assert conn.last_activity_count == before + 2


def test_connect_publish_disconnect_in_one_chunk_is_still_handled() -> None:
    conn = MqttConnection()
    events = conn.receive(CONNECT + publish("a", b"1", qos=1, packet_id=1) + packets.DISCONNECT)
    connect, published, disconnect = events
    assert isinstance(connect, ConnectRequested) and isinstance(published, PublishReceived)
    assert disconnect == DisconnectRequested()
    assert conn.should_close and not conn.aborted  # so the transport handles every event
    conn.accept()
    assert conn.accepted
    conn.ack(published)
    assert conn.data_to_send() == CONNACK_ACCEPTED + b"\x40\x02\x00\x01"
    assert conn.closed


def test_abort_ends_the_connection_for_an_app_reason() -> None:
    conn = MqttConnection()
    will = Will("plug-1/status", b"lost")
    conn.receive(packets.encode_connect("plug-1", will=will))
    conn.accept()
    [event] = conn.receive(publish("not/yours", b"1", qos=1, packet_id=1))
    assert isinstance(event, PublishReceived)
    conn.abort("not allowed to publish to not/yours")
    conn.ack(event)  # answers after abort are no-ops
    assert conn.data_to_send() == CONNACK_ACCEPTED
    assert conn.aborted and conn.closed
    assert conn.close_reason == "not allowed to publish to not/yours"
    assert conn.will == will  # still to be published by the transport
    assert conn.receive(packets.PINGREQ) == []


def test_disconnect_discards_the_will_and_closes() -> None:
    conn = MqttConnection()
    conn.receive(packets.encode_connect("plug-1", will=Will("s", b"gone")))
    conn.accept()
    conn.data_to_send()
    assert conn.receive(packets.DISCONNECT + b"garbage after the end") == [DisconnectRequested()]
    assert conn.will is None
    assert conn.closed
    assert conn.close_reason == "client disconnected"
    assert conn.receive(b"\xff\xff") == []


# --- chunking ------------------------------------------------------------------------------

CONVERSATION = (
    CONNECT
    + packets.encode_subscribe(1, [("plug-1/cmd/#", 1)])
    + publish("plug-1/data/a", b"x" * 200, qos=1, packet_id=2)
    + publish("plug-1/data/b", b"", qos=2, packet_id=3)
    + packets.PINGREQ
    + packets.encode_unsubscribe(4, ["plug-1/cmd/#"])
    + packets.DISCONNECT
)


def _answer(conn: MqttConnection, events: list) -> None:
    for event in events:
        if isinstance(event, ConnectRequested):
            conn.accept()
        elif isinstance(event, PublishReceived):
            conn.ack(event)
        elif isinstance(event, SubscribeRequested):
            conn.suback(event.packet_id, [1])
        elif isinstance(event, UnsubscribeRequested):
            conn.unsuback(event.packet_id)


def test_a_conversation_fed_byte_by_byte_equals_one_fed_at_once() -> None:
    whole = MqttConnection()
    whole_events = whole.receive(CONVERSATION)
    _answer(whole, whole_events)

    split = MqttConnection()
    split_events = []
    for index in range(len(CONVERSATION)):
        events = split.receive(CONVERSATION[index : index + 1])
        _answer(split, events)
        split_events += events

    assert split_events == whole_events
    assert [type(event) for event in whole_events] == [
        ConnectRequested,
        SubscribeRequested,
        PublishReceived,
        PublishReceived,
        UnsubscribeRequested,
        DisconnectRequested,
    ]
    split_output, whole_output = split.data_to_send(), whole.data_to_send()
    assert split_output == (
        CONNACK_ACCEPTED
        + b"\x90\x03\x00\x01\x01"
        + b"\x40\x02\x00\x02"
        + b"\x50\x02\x00\x03"
        + b"\xd0\x00"
        + b"\xb0\x02\x00\x04"
    )
    # Fed at once, the core's PINGRESP waits only for the CONNACK, not for the app's answers
    # to earlier packets: the same packets, CONNACK first, in another valid order.
    split_packets = list(packets.PacketReader().feed(split_output))
    whole_packets = list(packets.PacketReader().feed(whole_output))
    assert whole_packets[0] == split_packets[0] == packets.Connack(False, 0)
    assert sorted(map(repr, whole_packets)) == sorted(map(repr, split_packets))
    assert split.closed and whole.closed
