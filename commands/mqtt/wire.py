"""The wire of one MQTT connection: the sans-I/O core, the transport's link, and what leaves.

Every part of the endpoint (`commands/mqtt/endpoint.py`) sends through it: packets are queued
in the core and written to the link in one go by `flush`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from django.conf import settings

from commands.mqtt.protocol.connection import MqttConnection
from plugboard.metrics import MQTT_MESSAGES_SENT, MQTT_TRANSPORTS

# The metric's children, bound once per transport: a message costs one increment, no label look-up.
_SENT = {t: MQTT_MESSAGES_SENT.labels(t) for t in MQTT_TRANSPORTS}


class Link(Protocol):
    """What a transport lends the endpoint."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    async def join(self, group: str) -> None: ...

    async def leave(self, group: str) -> None: ...


class Wire:
    def __init__(self, link: Link, source: str) -> None:
        limits = settings.PLUGBOARD
        self.conn = MqttConnection(
            max_packet=limits["MQTT_MAX_PACKET"], max_inflight=limits["MQTT_MAX_INFLIGHT"]
        )
        self.link = link
        self.source = source  # the transport's name: "mqtt-tcp", "mqtt-ws"
        self.sent_count = _SENT[source]
        self.ended = False  # the connection is gone (`MqttEndpoint.lost`)

    def flush(self) -> None:
        """Write what the core queued; close the link once the core says so."""
        out = self.conn.data_to_send()
        if out:
            self.link.write(out)
        if self.conn.should_close and not self.ended:
            self.link.close()

    def send(self, topic: str, payload: Any, qos: int, retain: bool = False) -> int | None:
        """Queue a PUBLISH of `payload` as JSON: its packet id (0 at QoS 0), or None when the
        window of unacknowledged QoS 1 messages is full."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        if qos == 1 and not self.conn.can_publish_qos1:
            return None
        packet_id = self.conn.publish(topic, body, qos, retain=retain)
        if not self.conn.should_close:  # queued (a closing connection queues nothing)
            self.sent_count.inc()
        return packet_id or 0

    def send_granted(self, topic: str, payload: Any, qos: int) -> None:
        """Queue a message at the QoS a subscription granted, or 0 while the window is full."""
        self.send(topic, payload, min(qos, 1) if self.conn.can_publish_qos1 else 0)
