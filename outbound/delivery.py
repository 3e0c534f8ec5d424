"""How a data connector's batch leaves (SPEC §13): one signed JSON request per batch to an HTTP
receiver, or one message per point to an external MQTT broker (QoS 1, each PUBACKed) or an AMQP
exchange (one AMQP transaction per batch: the broker has every message of it once the commit is
answered, in one round trip instead of a confirm per message). Every connection is checked
against the network rule right before it is made and bounded by `PLUGBOARD_OUTBOUND_TIMEOUT`.

MQTT and AMQP connections are kept per process and connector (until its settings change or a
send fails), so a busy connector costs one connection, not one per batch.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
import pika
from django.conf import settings

from outbound.connectors import KIND, TEMPLATE_RE, Settings, connector_settings, iso_at
from outbound.http import webhook_send
from outbound.models import DataConnector
from outbound.network import target_resolve
from outbound.outbox import Message, deliverer_register
from plugboard.timestamps import now_ms

BATCH = 500  # points per batch (an HTTP request): whole writes, at least one


class DeliveryFailed(Exception):
    """The connector's target did not take the batch; the message says why."""


def _render(template: str, point: dict[str, Any]) -> str:
    values = {"account": point["account"], "device": point["device"], "property": point["property"]}
    return TEMPLATE_RE.sub(lambda m: str(values[m.group(1)]), template)


def _timeout() -> float:
    return float(settings.PLUGBOARD_OUTBOUND_TIMEOUT)


# --- HTTP ----------------------------------------------------------------------------------------


def _send_http(conf: Settings, points: Sequence[dict[str, Any]], delivery_id: str) -> None:
    body = json.dumps(
        {"connector": conf.id, "deliveryId": delivery_id, "points": list(points)}, separators=(",", ":")
    ).encode()
    user = conf.config.get("user")
    webhook_send(
        url=conf.config["url"],
        method=conf.config.get("method", "POST"),
        body=body,
        delivery_id=delivery_id,
        signature_key=conf.secrets.get("signatureKey", ""),
        headers=conf.config.get("headers") or {},
        auth=(user, conf.secrets.get("password", "")) if user else None,
    )


# --- MQTT ----------------------------------------------------------------------------------------


class _MqttLink:
    """A connected paho client of one connector's settings."""

    def __init__(self, conf: Settings) -> None:
        url = conf.url_with_password()
        target = target_resolve(url, schemes=("mqtt", "mqtts"))
        parts = target.url
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"plugboard-{conf.id}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        client.connect_timeout = _timeout()
        if parts.username:
            client.username_pw_set(parts.username, parts.password)
        host = target.addresses[0]
        if parts.scheme == "mqtts":
            client.tls_set_context(ssl.create_default_context())
            host = target.host  # the certificate names the host; it was checked just now
        self.lock = threading.Lock()
        self.connack = threading.Event()
        self.refused = ""

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason.is_failure:
                self.refused = str(reason)
            self.connack.set()

        client.on_connect = on_connect
        try:
            client.connect(host, target.port, keepalive=60)
        except OSError as exc:
            raise DeliveryFailed(f"{target.host}:{target.port}: {exc}") from None
        client.loop_start()
        if not self.connack.wait(_timeout()) or self.refused:
            client.loop_stop()
            client.disconnect()
            raise DeliveryFailed(f"{target.host}: CONNACK {self.refused or 'not received in time'}")
        self.client = client

    def publish(self, topic_template: str, points: Sequence[dict[str, Any]]) -> None:
        infos = [
            self.client.publish(_render(topic_template, p), json.dumps(p, separators=(",", ":")), qos=1)
            for p in points
        ]
        deadline = time.monotonic() + _timeout()
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise DeliveryFailed("the broker did not acknowledge every message in time")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- AMQP ----------------------------------------------------------------------------------------


class _AmqpLink:
    """A blocking pika connection and a transactional channel, of one connector."""

    def __init__(self, conf: Settings) -> None:
        url = conf.url_with_password()
        target = target_resolve(url, schemes=("amqp", "amqps"))
        self.lock = threading.Lock()
        params = pika.URLParameters(url)
        if target.url.scheme == "amqp":
            params.host = target.addresses[0]  # the address just checked, not a second lookup
        params.socket_timeout = _timeout()
        params.stack_timeout = _timeout()
        params.blocked_connection_timeout = _timeout()
        params.connection_attempts = 1
        try:
            self.connection = pika.BlockingConnection(params)
            self.channel = self.connection.channel()
            self.channel.tx_select()
        except pika.exceptions.AMQPError as exc:
            raise DeliveryFailed(f"{target.host}:{target.port}: {type(exc).__name__} {exc}") from None

    def publish(
        self, exchange: str, routing_template: str, points: Sequence[dict[str, Any]], delivery_id: str
    ) -> None:
        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=2, headers={"x-plugboard-delivery": delivery_id}
        )
        try:
            for p in points:
                self.channel.basic_publish(
                    exchange, _render(routing_template, p), json.dumps(p, separators=(",", ":")), properties
                )
            self.channel.tx_commit()  # the batch is the broker's once this is answered
        except pika.exceptions.AMQPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__} {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError):
            self.connection.close()


# --- the deliverer -------------------------------------------------------------------------------

_links: dict[str, tuple[Settings, _MqttLink | _AmqpLink]] = {}
_links_lock = threading.Lock()


def _link(conf: Settings) -> _MqttLink | _AmqpLink:
    with _links_lock:
        held = _links.get(conf.id)
        if held is not None and held[0] == conf:
            return held[1]
        if held is not None:
            _links.pop(conf.id)
            held[1].close()
        link: _MqttLink | _AmqpLink = (
            _MqttLink(conf) if conf.type == DataConnector.Type.MQTT else _AmqpLink(conf)
        )
        _links[conf.id] = (conf, link)
        return link


def _drop(conf: Settings) -> None:
    with _links_lock:
        held = _links.pop(conf.id, None)
    if held is not None:
        held[1].close()


def _publish(
    link: _MqttLink | _AmqpLink, conf: Settings, points: Sequence[dict[str, Any]], delivery_id: str
) -> None:
    with link.lock:  # a connection is used by one thread at a time
        if isinstance(link, _MqttLink):
            link.publish(conf.config.get("topic", "${account}/${device}/${property}"), points)
        else:
            link.publish(conf.config["exchange"], conf.config.get("routingKey", ""), points, delivery_id)


def send(conf: Settings, points: Sequence[dict[str, Any]], *, delivery_id: str, kept: bool = True) -> None:
    """Send one batch of points to the connector's target; raise when it is not taken. `kept`:
    over this process's kept connection (deliveries); else over one of its own (a test send)."""
    if conf.type == DataConnector.Type.HTTP:
        _send_http(conf, points, delivery_id)
        return
    if not kept:
        link = _MqttLink(conf) if conf.type == DataConnector.Type.MQTT else _AmqpLink(conf)
        try:
            _publish(link, conf, points, delivery_id)
        finally:
            link.close()
        return
    link = _link(conf)
    try:
        _publish(link, conf, points, delivery_id)
    except Exception:
        _drop(conf)  # a fresh connection for the retry
        raise


def deliver(target: str, messages: Sequence[Message]) -> None:
    """The outbox's deliverer of kind `dataconnector`: `target` is the connector's id."""
    connector = DataConnector.objects.filter(id=target).first()
    if connector is None:
        return  # deleted: what it had queued goes nowhere (connector_delete discards it too)
    if connector.disabled:
        raise DeliveryFailed("the connector is disabled; its points wait until it is enabled")
    points = [point for m in messages for point in m.payload["points"]]
    send(connector_settings(connector), points, delivery_id=messages[0].delivery_id)


def deliverers_register() -> None:
    deliverer_register(KIND, deliver, batch=BATCH)


def connector_test(*, connector: DataConnector) -> None:
    """Send one test point through the connector now, outside the outbox; raise
    `DeliveryFailed` (or TargetRefused) with the reason when it is not taken."""
    point = {
        "account": connector.account_id,
        "device": connector.app_id,
        "property": "test",
        "t": iso_at(now_ms()),
        "v": "test",
        "test": True,
    }
    send(connector_settings(connector), [point], delivery_id=uuid.uuid4().hex, kept=False)
