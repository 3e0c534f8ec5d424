"""How an alert's notifications leave the platform: the durable outbox's deliverers
(`outbound.outbox.deliverer_register`, registered in `alerts.apps`) for the actions that reach
outside, one message per batch so that each notification has its own delivery id, the same on
every retry.

- `alert.webhook`: the notification's JSON body POSTed (or PUT) to its URL by
  `outbound.http.webhook_send` (signed `X-Plugboard-Signature: sha256=<hex HMAC-SHA256 of the
  body>` with its `signatureKey`, `X-Plugboard-Delivery`, no redirects); anything but a 2xx is
  retried.
- `alert.mqtt`: the JSON body published (QoS 1, PUBACK awaited) to an external broker's `topic`
  (`url` `mqtt(s)://user:pass@host:port`).
- `alert.mqtt.own`: the JSON body published on the platform's own broker, on the account's
  `{account}/alerts/{device}` topic: one message to the account's alerts group on the channel
  layer (`plugboard.live.alerts_group`), which every MQTT connection subscribed to such a topic
  joined (`commands.mqtt.mirror`). A channel layer that refuses the message (Redis down) raises,
  and the outbox retries; a topic nobody subscribes to drops it, as a broker does.
- `alert.email`: one message through Django's SMTP backend (`EMAIL_URL`); an SMTP error or an
  unreachable server is retried.

A webhook whose host resolves to a loopback, private or link-local address is refused on save
and before each call (`outbound.network`), unless the operator allows that network
(`PLUGBOARD_OUTBOUND_ALLOW_NETWORKS`), as for data connectors.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from outbound.http import webhook_send
from outbound.network import TargetRefused, target_resolve
from outbound.outbox import Message
from plugboard.live import Kind, alerts_group, envelope

WEBHOOK = "alert.webhook"
EMAIL = "alert.email"
MQTT = "alert.mqtt"
MQTT_OWN = "alert.mqtt.own"


def target_refusal(url: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """Why the platform may not call `url` (the data connectors' rule, `outbound.network`), or
    None."""
    try:
        target_resolve(url, schemes=schemes)
    except TargetRefused as exc:
        return str(exc)
    return None


def webhook_deliver(target: str, messages: Sequence[Message]) -> None:
    for message in messages:
        payload: dict[str, Any] = message.payload
        webhook_send(
            url=payload["url"],
            body=json.dumps(payload["body"], separators=(",", ":")).encode(),
            delivery_id=message.delivery_id,
            signature_key=payload.get("signatureKey") or "",
            method=payload.get("method") or "POST",
        )


def email_deliver(target: str, messages: Sequence[Message]) -> None:
    with get_connection(fail_silently=False) as connection:
        for message in messages:
            payload = message.payload
            email = EmailMessage(
                subject=payload.get("subject") or payload["body"]["alert"],
                body=payload["body"]["message"],
                to=[target],
                headers={"X-Plugboard-Delivery": message.delivery_id},
                connection=connection,
            )
            email.send()


def mqtt_deliver(target: str, messages: Sequence[Message]) -> None:
    """Publish each notification (QoS 1, its JSON body) to an external broker's topic: one
    connection per batch, the PUBACK awaited, so a failure is retried by the outbox."""
    url = messages[0].payload["url"]
    resolved = target_resolve(url, schemes=("mqtt", "mqtts"))
    timeout = float(settings.PLUGBOARD_OUTBOUND_TIMEOUT)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"plugboard-alerts-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv311,
    )
    if resolved.url.username:
        client.username_pw_set(resolved.url.username, resolved.url.password)
    host = resolved.addresses[0]
    if resolved.url.scheme == "mqtts":
        client.tls_set_context(ssl.create_default_context())
        host = resolved.host  # the certificate names the host; its addresses were checked just now
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout
    client.connect(host, resolved.port, keepalive=60)
    client.loop_start()
    try:
        if not connected.wait(timeout) or refused:
            raise ConnectionError(
                f"{resolved.host}: CONNACK {refused[0] if refused else 'not received in time'}"
            )
        for message in messages:
            body = json.dumps(message.payload["body"], separators=(",", ":"))
            info = client.publish(message.payload["topic"], body, qos=1)
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise ConnectionError(f"{resolved.host}: no PUBACK in time")
    finally:
        client.disconnect()
        client.loop_stop()


def own_mqtt_deliver(target: str, messages: Sequence[Message]) -> None:
    """Send the notifications (`{device, body}`) to the account `target`'s alert subscribers on
    the platform's own broker; raises (to be retried) when the channel layer refuses them."""
    layer = get_channel_layer()
    if layer is None:
        raise ConnectionError("no channel layer: the platform's broker cannot be reached")
    group = alerts_group(target)
    message = envelope(Kind.ALERTS, group, notifications=[m.payload for m in messages])
    async_to_sync(layer.group_send)(group, message)


# (kind, deliverer, batch) for `outbound.outbox.deliverer_register` (`alerts.apps`): one
# notification per batch where each keeps its own delivery id across retries; the own broker's
# have none to keep, so many go in one channel-layer message.
DELIVERERS = (
    (WEBHOOK, webhook_deliver, 1),
    (EMAIL, email_deliver, 1),
    (MQTT, mqtt_deliver, 1),
    (MQTT_OWN, own_mqtt_deliver, 100),
)
