"""Zero-touch provisioning over MQTT (SPEC §7): a provisioning key's request, answered on
`{prefix}provisions/{client id}` with the device's identity or an error."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async

from commands.mqtt.protocol.connection import ProtocolViolation, PublishReceived
from commands.mqtt.protocol.topics import provisioning_answer_topic
from commands.mqtt.session import Session
from commands.mqtt.subscriptions import Subscriptions
from commands.mqtt.wire import Wire
from devices import access
from devices.services.provisioning import provision_answer
from plugboard.parsers import json_loads

log = logging.getLogger(__name__)


class Provisioning:
    def __init__(self, wire: Wire, session: Session, subscriptions: Subscriptions) -> None:
        self.wire = wire
        self.session = session
        self.subscriptions = subscriptions

    async def answer(self, event: PublishReceived, prefix: str) -> None:
        """Answer the request `event` published on `{prefix}provisions`; only a provisioning key
        may ask (anyone else's connection is closed)."""
        principal = self.session.principal
        assert principal is not None
        if access.provisioning_context(principal) is None:
            raise ProtocolViolation(f"not allowed to publish to {event.topic}: no provisioning key")
        try:
            body = json_loads(event.payload)
        except ValueError:
            body = None  # refused by the service like any other malformed request
        answer = await database_sync_to_async(provision_answer)(principal=principal, body=body)
        self.wire.conn.ack(event)
        topic = provisioning_answer_topic(self.session.client_id, prefix)
        qos = self.subscriptions.granted(topic)
        if qos is None:
            log.info("provisioning answer not subscribed to", extra={"client": self.session.client_id})
        else:
            self.wire.send_granted(topic, answer, qos)
        self.wire.flush()
