"""Notifications through the durable outbox (SPEC §12): a webhook to a real HTTP receiver that
fails first (signed, one delivery id across retries, once delivered), an email to a real SMTP
server (aiosmtpd) that is down at first, the network rule on a webhook's URL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from rest_framework.test import APIClient

from alerts.models import Incident
from devices.services.plugs import Enrolled
from outbound.outbox import outbox_deliver
from tests.alerts.conftest import alert_body
from tests.conftest import Tenant, plug_headers
from tests.support import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
LOOPBACK = override_settings(
    PLUGBOARD_OUTBOUND_ALLOW_NETWORKS=["127.0.0.0/8"], PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.05]
)


class Receiver(ThreadingHTTPServer):
    """A webhook receiver answering 500 to its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        super().__init__(("127.0.0.1", free_port()), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if len(self.server.received) < self.server.failures else 200
        self.server.received.append((dict(self.headers), body, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def notify_with(notification: dict[str, Any], owner: str) -> dict[str, Any]:
    handlers = [{"key": "1", "notification": notification["name"]}]
    return alert_body(
        owner,
        conditions=[
            {"severity": "critical", "expression": {"operation": "gt", "value": 40}, "handlers": handlers}
        ],
        recover=[],
        notifications=[notification],
    )


def hot(api: APIClient, device: Enrolled) -> None:
    r = api.post(
        f"/v3/data/devices/{device.plug.id}", {"temperature": 45}, format="json", **plug_headers(device)
    )
    assert r.status_code == 200


def deliver_until(predicate: Any) -> Any:
    return wait_for(lambda: outbox_deliver(seconds=1) >= 0 and predicate(), timeout=20)


@LOOPBACK
def test_webhook_signed_retried_once_delivered(
    api: APIClient, tenant: Tenant, device: Enrolled, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    notification = {
        "name": "ops",
        "action": "webhook",
        "url": url,
        "signatureKey": "k3y",
        "message": "${device} ${value}",
    }
    r = api.post(
        "/v3/alerts", notify_with(notification, device.plug.id), format="json", **tenant.master_headers()
    )
    assert r.status_code == 201, r.content
    hot(api, device)
    assert deliver_until(lambda: any(status == 200 for *_, status in receiver.received))
    assert [status for *_, status in receiver.received] == [500, 500, 200]
    deliveries = {headers["X-Plugboard-Delivery"] for headers, _, _ in receiver.received}
    assert len(deliveries) == 1  # the same id on every retry
    headers, body, _ = receiver.received[-1]
    expected = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert headers["X-Plugboard-Signature"] == expected
    sent = json.loads(body)
    incident = Incident.objects.get()
    assert sent["incidentId"] == incident.id and sent["severity"] == "critical" and sent["value"] == 45
    assert sent["message"] == f"{device.plug.id} 45" and sent["device"] == device.plug.id
    outbox_deliver(seconds=1)
    assert len(receiver.received) == 3  # delivered once


def test_webhook_to_a_private_address_is_refused(api: APIClient, tenant: Tenant, device: Enrolled) -> None:
    notification = {"name": "ops", "action": "webhook", "url": "http://127.0.0.1:9/hook"}
    r = api.post(
        "/v3/alerts", notify_with(notification, device.plug.id), format="json", **tenant.master_headers()
    )
    assert r.status_code == 400 and "PLUGBOARD_OUTBOUND_ALLOW_NETWORKS" in r.json()[0]["message"]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 OK"


def test_email_retried_until_the_smtp_server_is_up(api: APIClient, tenant: Tenant, device: Enrolled) -> None:
    port = free_port()
    # The test environment swaps in Django's in-memory backend: the real SMTP one here.
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=2,
        PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.05],
    ):
        notification = {
            "name": "mail",
            "action": "email",
            "to": "ops@example.com",
            "subject": "${alert} ${severity}",
            "message": "${property} is ${value}",
        }
        r = api.post(
            "/v3/alerts", notify_with(notification, device.plug.id), format="json", **tenant.master_headers()
        )
        assert r.status_code == 201, r.content
        hot(api, device)
        assert outbox_deliver(seconds=1) == 0  # no SMTP server yet: kept for a retry
        inbox = Inbox()
        smtp = Controller(inbox, hostname="127.0.0.1", port=port)
        smtp.start()
        try:
            assert deliver_until(lambda: inbox.messages)
        finally:
            smtp.stop()
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["ops@example.com"]
    text = envelope.content.decode()
    assert "Subject: too-hot critical" in text and "temperature is 45" in text


@LOOPBACK
def test_mqtt_to_an_external_broker(api: APIClient, tenant: Tenant, device: Enrolled) -> None:
    """Published to the operator's broker (the system Mosquitto on 1883), read back with paho."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.support import accepts

    if not accepts(1883):
        pytest.skip("no MQTT broker on 127.0.0.1:1883")
    topic = f"plugboard-test/{device.plug.id}/alerts"
    received: list[Any] = []
    subscribed = threading.Event()
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    reader.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    reader.on_subscribe = lambda *a: subscribed.set()
    reader.on_message = lambda c, u, m: received.append(json.loads(m.payload))
    reader.connect("127.0.0.1", 1883)
    reader.loop_start()
    try:
        assert subscribed.wait(10)
        notification = {
            "name": "bus",
            "action": "mqtt",
            "url": "mqtt://127.0.0.1:1883",
            "topic": "plugboard-test/${device}/alerts",
            "message": "${alert} ${value}",
        }
        r = api.post(
            "/v3/alerts", notify_with(notification, device.plug.id), format="json", **tenant.master_headers()
        )
        assert r.status_code == 201, r.content
        hot(api, device)
        assert deliver_until(lambda: received)
        [sent] = received
        assert (
            sent["message"] == "too-hot 45"
            and sent["device"] == device.plug.id
            and sent["severity"] == "critical"
        )
    finally:
        reader.disconnect()
        reader.loop_stop()
