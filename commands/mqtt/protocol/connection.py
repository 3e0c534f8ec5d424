"""The server side of one MQTT 3.1.1 connection, without I/O (a "sans-I/O" core).

A transport (the Channels WebSocket consumer, the asyncio TCP server) drives it like this:

    events = conn.receive(data)          # may raise ProtocolViolation: log .reason, close
    for event in events:                 # in order
        if conn.aborted:                 # refused or aborted: ignore what followed
            break
        ...                              # answer with accept/refuse, ack, suback, unsuback
    write(conn.data_to_send())
    if conn.should_close:                # or conn.closed, which also says the bytes were taken
        close the socket; publish conn.will if it is not None

The core itself answers PINGREQ (PINGRESP) and PUBREL (PUBCOMP), and refuses the CONNECTs the
standard leaves no choice about: a protocol level other than 4 (CONNACK 0x01) and an empty client
id without clean session (CONNACK 0x02). Those produce no event; they set `should_close`.

`should_close` turns True on a protocol violation, on `refuse()`, on those core refusals, on
`abort(reason)` and on a clean DISCONNECT; `close_reason` says why. From then on input is
ignored. All but DISCONNECT also set `aborted`, after which the app's answers are no-ops. After
a DISCONNECT answers are still queued: the events before DisconnectRequested (even a
ConnectRequested, when a client sends CONNECT, PUBLISH and DISCONNECT in one go) are still to be
handled. Answers given while a CONNECT awaits `accept()` (a PINGRESP to a pipelined PINGREQ,
say) are held and sent right after the CONNACK, or dropped by `refuse()`. `closed` is True once
`should_close` is set and every queued byte has been taken with `data_to_send()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from commands.mqtt.protocol.packets import (
    CONNACK_ACCEPTED,
    CONNACK_IDENTIFIER_REJECTED,
    CONNACK_NOT_AUTHORIZED,
    CONNACK_UNACCEPTABLE_PROTOCOL,
    MAX_PACKET_ID,
    PINGRESP,
    SUBACK_FAILURE,
    Connack,
    Connect,
    Disconnect,
    Packet,
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
    encode_connack,
    encode_puback,
    encode_pubcomp,
    encode_publish,
    encode_pubrec,
    encode_suback,
    encode_unsuback,
)

__all__ = [
    "ConnectRequested",
    "DisconnectRequested",
    "Event",
    "InflightWindowFull",
    "MqttConnection",
    "ProtocolViolation",
    "PubackReceived",
    "PublishReceived",
    "SubscribeRequested",
    "UnsubscribeRequested",
    "Will",
]

DEFAULT_MAX_PACKET = 256 * 1024  # SPEC §7: oversized packets close the connection
DEFAULT_MAX_INFLIGHT = 100  # QoS 1 messages sent and not yet acknowledged


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """A client asks to connect; answer with `accept()` or `refuse(code)`."""

    client_id: str
    username: str | None
    password: bytes | None
    clean_session: bool
    keepalive: int
    will: Will | None


# A client published; call `ack(event)` once the message is durably handled. The event is the
# decoded packet itself (topic, payload, qos, retain, dup, packet_id): no second object per message.
PublishReceived = Publish


@dataclass(frozen=True, slots=True)
class SubscribeRequested:
    """A client subscribes; answer with `suback(packet_id, codes)`, one code per filter."""

    packet_id: int
    subscriptions: list[tuple[str, int]]  # (topic filter, requested QoS)


@dataclass(frozen=True, slots=True)
class UnsubscribeRequested:
    """A client unsubscribes; answer with `unsuback(packet_id)`."""

    packet_id: int
    filters: list[str]


@dataclass(frozen=True, slots=True)
class PubackReceived:
    """The client acknowledged one of our QoS 1 publishes; its inflight slot is free again."""

    packet_id: int


@dataclass(frozen=True, slots=True)
class DisconnectRequested:
    """A clean DISCONNECT: the will is discarded (`conn.will` is already None)."""


Event = (
    ConnectRequested
    | PublishReceived
    | SubscribeRequested
    | UnsubscribeRequested
    | PubackReceived
    | DisconnectRequested
)


class InflightWindowFull(RuntimeError):
    """`publish(qos=1)` while `max_inflight` QoS 1 messages await PUBACK; see `can_publish_qos1`."""


class _State(Enum):
    AWAITING_CONNECT = "awaiting CONNECT"
    CONNECT_PENDING = "CONNECT awaiting accept or refuse"
    CONNECTED = "connected"


class MqttConnection:
    """Protocol state of one client connection, seen from the server.

    Transports drive it with `receive()` and `data_to_send()`; the app answers the events
    through `accept`/`refuse`, `ack`, `suback`, `unsuback` and sends with `publish`.
    """

    def __init__(
        self, max_packet: int = DEFAULT_MAX_PACKET, max_inflight: int = DEFAULT_MAX_INFLIGHT
    ) -> None:
        if not 1 <= max_inflight <= MAX_PACKET_ID:
            raise ValueError(
                f"max_inflight must be within 1..{MAX_PACKET_ID} (packet identifiers are 16-bit)"
            )
        self.max_packet = max_packet
        self.max_inflight = max_inflight
        self._reader = PacketReader(max_packet)
        self._state = _State.AWAITING_CONNECT
        self._outgoing: list[bytes] = []  # what data_to_send() hands out
        # Where answers go. While a CONNECT awaits the app's decision it is a separate list, so
        # a PINGRESP or PUBCOMP to a pipelined packet cannot overtake the CONNACK (and is
        # dropped on refusal); from accept() on it is `_outgoing` itself.
        self._answers: list[bytes] = self._outgoing

        #: True once the connection must end; see the module docstring.
        self.should_close = False
        #: Why it must end, for the device log (None while open).
        self.close_reason: str | None = None
        # Set by a violation, a refusal or abort(): nothing more is sent. A clean DISCONNECT
        # leaves it unset, so the app may still answer (even accept) what came before it.
        self._aborted = False
        #: Count of packets received; a transport's keep-alive timer watches it change.
        self.last_activity_count = 0

        # What the CONNECT said.
        self.client_id: str | None = None
        self.clean_session = True
        self.keepalive = 0
        #: The will to publish if the connection ends without DISCONNECT (None after one).
        self.will: Will | None = None

        # QoS 2 inbound: packet id -> whether PUBREC was sent. An id stays until PUBREL, so a
        # re-sent PUBLISH is not delivered twice (exactly once).
        self._inbound_qos2: dict[int, bool] = {}
        # SUBSCRIBE packet id -> number of filters, to check the app's SUBACK.
        self._pending_subscribes: dict[int, int] = {}
        # Our QoS 1 publishes awaiting PUBACK: packet id -> encoded PUBLISH (insertion-ordered,
        # so a resend keeps the original order).
        self._inflight: dict[int, bytes] = {}
        self._last_packet_id = 0

    # --- state seen by transports -------------------------------------------------------

    @property
    def closed(self) -> bool:
        """The connection has ended and every byte it owed the client was taken."""
        return self.should_close and not self._outgoing

    @property
    def accepted(self) -> bool:
        """Whether `accept()` was called (it stays True once the connection closes)."""
        return self._state is _State.CONNECTED

    @property
    def aborted(self) -> bool:
        """True after a protocol violation, a refusal or `abort()`: stop handling events.

        Unlike `should_close` it stays False after a clean DISCONNECT, whose preceding events
        (even CONNECT and PUBLISH sent together with it) are still to be handled.
        """
        return self._aborted

    @property
    def keepalive_limit(self) -> float | None:
        """Seconds of silence after which the connection must be dropped (1.5 × keep-alive)."""
        return self.keepalive * 1.5 if self.keepalive else None

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an incomplete packet held by the core (at most `max_packet` + 5)."""
        return self._reader.buffered_bytes

    @property
    def inflight_count(self) -> int:
        return len(self._inflight)

    @property
    def can_publish_qos1(self) -> bool:
        """Whether `publish(qos=1)` has a free inflight slot."""
        return len(self._inflight) < self.max_inflight

    # --- bytes in, bytes out ------------------------------------------------------------

    def receive(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed bytes from the client; return the events they complete, in order.

        Raises `ProtocolViolation` for malformed or forbidden input, after marking the
        connection to close; events of earlier packets in the same chunk are then dropped.
        """
        events: list[Event] = []
        if self.should_close:
            return events
        try:
            for packet in self._reader.feed(data):
                self.last_activity_count += 1
                self._dispatch(packet, events)
                if self.should_close:
                    break
        except UnsupportedProtocolLevel as refusal:
            if self._state is not _State.AWAITING_CONNECT:
                self._close("second CONNECT", abort=True)
                raise ProtocolViolation("second CONNECT")
            self._outgoing.append(encode_connack(False, CONNACK_UNACCEPTABLE_PROTOCOL))
            self._close(refusal.reason, abort=True)
            return []
        except ProtocolViolation as violation:
            self._close(violation.reason, abort=True)
            raise
        return events

    def data_to_send(self) -> bytes:
        """Take the bytes the core has queued for the client (b"" when none)."""
        if not self._outgoing:
            return b""
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    # --- answers from the app -----------------------------------------------------------

    def accept(self, session_present: bool = False) -> None:
        """Accept the pending CONNECT (CONNACK 0x00)."""
        if self._aborted:
            return
        self._expect_pending_connect("accept")
        self._state = _State.CONNECTED
        # [MQTT-3.2.2-1]: a clean session never has a session present.
        self._outgoing.append(encode_connack(session_present and not self.clean_session, CONNACK_ACCEPTED))
        self._outgoing += self._answers  # answers held while the CONNECT was pending
        self._answers = self._outgoing

    def refuse(self, code: int) -> None:
        """Refuse the pending CONNECT with CONNACK `code` (1..5); the connection then closes."""
        if not CONNACK_UNACCEPTABLE_PROTOCOL <= code <= CONNACK_NOT_AUTHORIZED:
            raise ValueError(f"CONNACK refusal code must be within 1..5, not {code}")
        if self._aborted:
            return
        self._expect_pending_connect("refuse")
        self._outgoing.append(encode_connack(False, code))
        self.will = None  # a refused client never had a session, so it has no will either
        self._close(f"connection refused with CONNACK {code}", abort=True)

    def ack(self, event: PublishReceived) -> None:
        """Acknowledge a handled publish: PUBACK for QoS 1, PUBREC for QoS 2, nothing for QoS 0."""
        if self._aborted or event.packet_id is None:
            return
        if event.qos == 1:
            self._answers.append(encode_puback(event.packet_id))
        elif self._inbound_qos2.get(event.packet_id) is False:
            self._inbound_qos2[event.packet_id] = True
            self._answers.append(encode_pubrec(event.packet_id))

    def suback(self, packet_id: int, return_codes: list[int]) -> None:
        """Answer a SUBSCRIBE: granted QoS (0, 1, 2) or 0x80 per filter, in request order."""
        if self._aborted:
            return
        expected = self._pending_subscribes.get(packet_id)
        if expected is not None and expected != len(return_codes):
            raise ValueError(f"SUBSCRIBE {packet_id} had {expected} filters, got {len(return_codes)} codes")
        if any(code not in (0, 1, 2, SUBACK_FAILURE) for code in return_codes):
            raise ValueError(f"SUBACK codes must be 0, 1, 2 or 0x80, not {return_codes}")
        self._pending_subscribes.pop(packet_id, None)
        self._answers.append(encode_suback(packet_id, return_codes))

    def unsuback(self, packet_id: int) -> None:
        """Answer an UNSUBSCRIBE."""
        if self._aborted:
            return
        self._answers.append(encode_unsuback(packet_id))

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, dup: bool = False
    ) -> int | None:
        """Queue a PUBLISH to the client; return its packet id (None for QoS 0).

        Only QoS 0 and 1 go out (SPEC §7 grants subscriptions at most QoS 1). A QoS 1 publish
        raises `InflightWindowFull` when `max_inflight` are unacknowledged — check
        `can_publish_qos1` first. Returns None without queuing once `should_close` is set.
        """
        if self.should_close:
            return None
        if self._state is not _State.CONNECTED:
            raise RuntimeError("publish() before accept()")
        if qos == 0:
            self._answers.append(encode_publish(topic, payload, 0, retain=retain))
            return None
        if qos != 1:
            raise ValueError(f"outgoing QoS {qos} is not supported (0 or 1)")
        if len(self._inflight) >= self.max_inflight:
            raise InflightWindowFull(f"{len(self._inflight)} QoS 1 messages await PUBACK")
        packet_id = self._next_packet_id()
        packet = encode_publish(topic, payload, 1, retain=retain, dup=dup, packet_id=packet_id)
        self._inflight[packet_id] = packet
        self._answers.append(packet)
        return packet_id

    def abort(self, reason: str) -> None:
        """End the connection for an app-level reason (a forbidden topic, keep-alive expiry...).

        Input is ignored from now on and the app's answers are no-ops; bytes already queued are
        still handed out by `data_to_send()`. The will stays, for the transport to publish.
        """
        self._close(reason, abort=True)

    def resend_unacked(self) -> int:
        """Queue again, with DUP set, every QoS 1 publish still awaiting PUBACK; return how many."""
        if self.should_close:
            return 0
        for packet_id, packet in self._inflight.items():
            if not packet[0] & 0b1000:
                packet = bytes((packet[0] | 0b1000,)) + packet[1:]
                self._inflight[packet_id] = packet
            self._answers.append(packet)
        return len(self._inflight)

    def unacked_publishes(self) -> list[Publish]:
        """Our QoS 1 publishes still awaiting PUBACK, to carry a session over to a reconnect."""
        publishes = []
        for packet in self._inflight.values():
            publish = decode(packet)
            assert isinstance(publish, Publish)
            publishes.append(publish)
        return publishes

    def restore_unacked(self, publishes: Iterable[Publish]) -> None:
        """Resume a session: re-send a previous connection's unacked QoS 1 publishes.

        [MQTT-4.4.0-1] wants their original packet ids, with DUP set. Call after `accept()`.
        """
        if self.should_close:
            return
        if self._state is not _State.CONNECTED:
            raise RuntimeError("restore_unacked() before accept()")
        for publish in publishes:
            if publish.qos != 1 or publish.packet_id is None:
                raise ValueError("only QoS 1 publishes with a packet id can be restored")
            packet_id = publish.packet_id
            packet = encode_publish(
                publish.topic, publish.payload, 1, retain=publish.retain, dup=True, packet_id=packet_id
            )
            self._inflight[packet_id] = packet
            self._answers.append(packet)

    # --- internals ----------------------------------------------------------------------

    def _close(self, reason: str, *, abort: bool) -> None:
        if not self.should_close:
            self.should_close = True
            self.close_reason = reason
        self._aborted = self._aborted or abort

    def _expect_pending_connect(self, action: str) -> None:
        if self._state is not _State.CONNECT_PENDING:
            raise RuntimeError(f"{action}() without a pending CONNECT ({self._state.value})")

    def _next_packet_id(self) -> int:
        # Ids cycle through 1..65535, skipping those in flight; max_inflight < 65535 keeps one free.
        packet_id = self._last_packet_id
        while True:
            packet_id = packet_id % MAX_PACKET_ID + 1
            if packet_id not in self._inflight:
                self._last_packet_id = packet_id
                return packet_id

    def _dispatch(self, packet: Packet, events: list[Event]) -> None:
        if self._state is _State.AWAITING_CONNECT:
            if not isinstance(packet, Connect):
                raise ProtocolViolation("first packet is not CONNECT")
            self._on_connect(packet, events)
            return
        match packet:  # ordered by how often each packet arrives
            case Publish():
                self._on_publish(packet, events)
            case Puback():
                if self._inflight.pop(packet.packet_id, None) is not None:
                    events.append(PubackReceived(packet.packet_id))
            case Pingreq():
                self._answers.append(PINGRESP)
            case Subscribe():
                self._pending_subscribes[packet.packet_id] = len(packet.subscriptions)
                events.append(SubscribeRequested(packet.packet_id, packet.subscriptions))
            case Unsubscribe():
                events.append(UnsubscribeRequested(packet.packet_id, packet.topic_filters))
            case Pubrel():
                self._on_pubrel(packet)
            case Disconnect():
                self.will = None  # [MQTT-3.14.4-3]: a clean DISCONNECT discards the will
                events.append(DisconnectRequested())
                # Not aborted: the app still answers the packets that came before it.
                self._close("client disconnected", abort=False)
            case Connect():
                raise ProtocolViolation("second CONNECT")
            case Pubrec() | Pubcomp():
                pass  # answers to QoS 2 publishes, which this server never sends: nothing to release
            case Connack() | Suback() | Unsuback() | Pingresp():
                raise ProtocolViolation(f"{type(packet).__name__.upper()} is sent by servers only")

    def _on_connect(self, connect: Connect, events: list[Event]) -> None:
        self.keepalive = connect.keepalive
        self.clean_session = connect.clean_session
        if not connect.client_id and not connect.clean_session:
            # [MQTT-3.1.3-8]: a server-assigned id cannot carry a stored session.
            self._outgoing.append(encode_connack(False, CONNACK_IDENTIFIER_REJECTED))
            self._close("empty client id without clean session", abort=True)
            return
        self._state = _State.CONNECT_PENDING
        self._answers = []
        self.client_id = connect.client_id
        self.will = connect.will
        events.append(
            ConnectRequested(
                connect.client_id,
                connect.username,
                connect.password,
                connect.clean_session,
                connect.keepalive,
                connect.will,
            )
        )

    def _on_publish(self, publish: Publish, events: list[Event]) -> None:
        if publish.qos == 2:
            assert publish.packet_id is not None
            pubrec_sent = self._inbound_qos2.get(publish.packet_id)
            if pubrec_sent is not None:
                # A re-sent PUBLISH of a message already delivered to the app: exactly once
                # means no second event; PUBREC again if the app has acknowledged it.
                if pubrec_sent:
                    self._answers.append(encode_pubrec(publish.packet_id))
                return
            self._inbound_qos2[publish.packet_id] = False
        events.append(publish)

    def _on_pubrel(self, pubrel: Pubrel) -> None:
        pubrec_sent = self._inbound_qos2.pop(pubrel.packet_id, None)
        if pubrec_sent is False:
            raise ProtocolViolation("PUBREL before PUBREC")
        # An unknown id (e.g. released before a reconnect) still gets its PUBCOMP, so the
        # client can finish the flow.
        self._answers.append(encode_pubcomp(pubrel.packet_id))
