"""What an MQTT connection means to the platform (SPEC §7), whatever carries it.

`MqttEndpoint` drives the sans-I/O `MqttConnection` for one client and hands its events to the
parts it is made of, one per concern:

    wire.py              the core, the transport's link, and what leaves (`Wire`)
    session.py           CONNECT, the takeover of a client id, the session row, the groups
                         joined, the plugs its topics name, the end (`Session`)
    publishing.py        PUBLISH → throttle → the one write service through the process's
                         group commit → PUBACK once stored; the will (`PublishPath`, `Throttle`)
    subscriptions.py     SUBSCRIBE / UNSUBSCRIBE, their authorization into channel-layer groups
                         (one per plug for commands, one per account for live records and
                         mirrors), the live records sent (`Subscriptions`)
    command_delivery.py  commands pushed, stored and swept, their state written in batches
                         (`CommandDelivery`, `CommandMarks`)
    provisioning.py      zero-touch provisioning requests (`Provisioning`)

The two transports — the Channels WebSocket consumer and the asyncio TCP server — only move
bytes and group messages in and out of it. The endpoint never touches the ORM itself: database
work goes through `database_sync_to_async` helpers or the group commit's writer thread.
"""

from __future__ import annotations

from typing import Any

from commands.mqtt.command_delivery import CommandDelivery
from commands.mqtt.protocol.connection import (
    ConnectRequested,
    DisconnectRequested,
    Event,
    ProtocolViolation,
    PubackReceived,
    PublishReceived,
    SubscribeRequested,
    UnsubscribeRequested,
)
from commands.mqtt.protocol.packets import CONNACK_SERVER_UNAVAILABLE
from commands.mqtt.protocol.topics import is_commands_filter
from commands.mqtt.provisioning import Provisioning
from commands.mqtt.publishing import PublishPath
from commands.mqtt.session import Session
from commands.mqtt.subscriptions import Subscriptions
from commands.mqtt.wire import Link, Wire
from plugboard.live import Kind
from plugboard.metrics import MQTT_MESSAGES_RECEIVED, MQTT_TRANSPORTS

# The metric's children, bound once per transport: a chunk costs one increment, no label look-up.
_RECEIVED = {t: MQTT_MESSAGES_RECEIVED.labels(t) for t in MQTT_TRANSPORTS}


class MqttEndpoint:
    def __init__(self, link: Link, source: str, peer: str = "unknown") -> None:
        self.wire = Wire(link, source)
        self.conn = self.wire.conn
        self.received_count = _RECEIVED[source]
        self.session = Session(self.wire, peer)
        self.subscriptions = Subscriptions(self.wire, self.session)
        self.commands = CommandDelivery(self.wire, self.session, self.subscriptions)
        self.provisioning = Provisioning(self.wire, self.session, self.subscriptions)
        self.publishing = PublishPath(self.wire, self.session, self.provisioning.answer)

    @property
    def client_id(self) -> str:
        return self.session.client_id

    @property
    def peer(self) -> str:
        return self.session.peer

    @peer.setter
    def peer(self, address: str) -> None:  # a PROXY header names the client behind a balancer
        self.session.peer = address

    # --- bytes in ----------------------------------------------------------------------------

    async def received(self, data: bytes) -> None:
        """Bytes from the client. Events are handled one by one, in order."""
        try:
            events = self.conn.receive(data)
        except ProtocolViolation as violation:  # the core has already marked the close
            await self.session.log_violation(violation.reason)
            events = []
        publishes = 0
        publish = self.publishing.publish
        for event in events:
            try:
                if type(event) is PublishReceived:
                    publishes += 1
                    # Most are a device's publishes with nothing to wait for: no coroutine each.
                    waiting = publish(event)
                    if waiting is not None:
                        await waiting
                else:
                    await self._handle(event)
            except ProtocolViolation as violation:  # a rule of ours: topic, rate
                self.conn.abort(violation.reason)
                await self.session.log_violation(violation.reason)
            # Not `should_close`: events before a DISCONNECT in the same chunk still count.
            if self.conn.aborted:
                break
        if publishes:  # one increment per chunk read, however many publishes it held
            self.received_count.inc(publishes)
        self.wire.flush()

    async def _handle(self, event: Event) -> None:
        if isinstance(event, PubackReceived):
            self.commands.acked(event.packet_id)
        elif isinstance(event, ConnectRequested):
            await self._connect(event)
        elif isinstance(event, SubscribeRequested):
            await self.subscriptions.subscribe(event)
            if any(is_commands_filter(f) for f, _ in event.subscriptions):
                await self.commands.deliver_stored()
                self.commands.watch()
        elif isinstance(event, UnsubscribeRequested):
            await self.subscriptions.unsubscribe(event)
        elif isinstance(event, DisconnectRequested):
            self.conn.will = None

    async def _connect(self, event: ConnectRequested) -> None:
        principal = await self.session.authenticate(event)
        if principal is None:
            return
        if not await self.publishing.throttle.admit(principal):
            self.conn.refuse(CONNACK_SERVER_UNAVAILABLE)  # retry later
            await self.session.log_violation("request rate limit of this API key exceeded")
            return
        kept = await self.session.open(event)
        if kept:
            await self.subscriptions.resume(kept)
            # A resumed session gets what it has not received; retained values only go to a
            # new SUBSCRIBE (MQTT 3.1.1 §3.3.1.3), which clients send again after reconnecting.
            await self.commands.deliver_stored(retained=False)
            self.commands.watch()

    # --- group messages ----------------------------------------------------------------------

    async def group_message(self, message: dict[str, Any]) -> None:
        """A message a transport received for one of the endpoint's groups."""
        kind = message.get("type")
        if kind == Kind.COMMANDS_PUSH:
            await self.commands.push(message)
        elif kind == Kind.DATA_POINTS and self.session.principal is not None:
            await self.subscriptions.deliver_records(message["records"])
        elif kind == Kind.ALERTS and self.subscriptions.mirror is not None:
            await self.subscriptions.deliver_alerts(message["notifications"])
        elif kind == Kind.MQTT_REVOKE:
            self.conn.abort("credentials revoked: plug disabled or removed, or key regenerated")
            self.wire.flush()
        elif kind == Kind.MQTT_TAKEOVER and message.get("token") != self.session.token:
            self.conn.abort("session taken over by a newer connection with the same client id")
            self.wire.flush()

    # --- the end -----------------------------------------------------------------------------

    async def lost(self) -> None:
        """The connection ended, cleanly or not: publish the will, leave groups, record it."""
        if self.wire.ended:
            return
        self.wire.ended = True
        self.session.counted_out()
        if self.conn.will is not None and self.session.principal is not None:
            await self.publishing.will(self.conn.will)
        self.subscriptions.stop()
        await self.session.close()
