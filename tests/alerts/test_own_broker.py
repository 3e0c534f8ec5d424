"""An alert's `mqtt` notification without a `url` goes to the platform's own broker (SPEC §12):
published on the account's `{account}/alerts/{device}` topic to a real paho client subscribed
over a real socket to a live server, from the durable outbox: while the channel layer refuses
the message it stays queued, and it arrives once the layer is back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from alerts.delivery import MQTT_OWN
from devices.services.plugs import Enrolled
from outbound.models import OutboxMessage
from outbound.outbox import outbox_deliver
from plugboard.models import Account
from tests.alerts.test_notifications import hot, notify_with
from tests.commands.mqtt.clients import Device
from tests.commands.mqtt.conftest import server  # noqa: F401 - the live server fixture
from tests.conftest import Tenant
from tests.support import ServerProcess, free_port, wait_for

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="the test process reaches the server through the shared channel layer"
)
RETRY_QUICKLY = override_settings(PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.05])


@pytest.mark.django_db(transaction=True)
@RETRY_QUICKLY
def test_mqtt_notification_on_the_platforms_own_broker(
    server: ServerProcess,  # noqa: F811
    api: APIClient,
    tenant: Tenant,
    device: Enrolled,
    other_tenant: Tenant,
) -> None:
    Account.objects.filter(pk=tenant.account.id).update(name="Acme")
    Account.objects.filter(pk=other_tenant.account.id).update(name="Rival")
    key_id, secret = tenant.user_key()
    reader = Device(server, "ops-dashboard", key_id, secret)
    rival_key, rival_secret = other_tenant.user_key()
    rival = Device(server, "rival-dashboard", rival_key, rival_secret)
    try:
        assert wait_for(lambda: reader.connack == [0] and rival.connack == [0], timeout=30)
        reader.client.subscribe("acme/alerts/+", qos=1)
        rival.client.subscribe("acme/alerts/+", qos=1)  # another account's topic: refused
        assert wait_for(lambda: reader.subacks == [[1]] and rival.subacks == [[0x80]], timeout=30)

        notification = {"name": "ops", "action": "mqtt", "message": "${alert}: ${device} is ${value}"}
        r = api.post(
            "/v3/alerts", notify_with(notification, device.plug.id), format="json", **tenant.master_headers()
        )
        assert r.status_code == 201, r.content
        hot(api, device)  # committed: evaluated after the commit, the notification queued with it
        queued = OutboxMessage.objects.filter(stream__kind=MQTT_OWN)
        assert queued.count() == 1

        # The channel layer is down: the delivery fails and the notification stays queued.
        dead = {"default": {**settings.CHANNEL_LAYERS["default"]}}
        dead["default"]["CONFIG"] = {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]}
        with override_settings(CHANNEL_LAYERS=dead):
            outbox_deliver(seconds=1)
        assert queued.count() == 1 and not reader.messages

        def delivered() -> Any:
            outbox_deliver(seconds=1)
            return reader.messages

        assert wait_for(delivered, timeout=20)
        [message] = reader.messages
        assert message.topic == "acme/alerts/boiler" and message.qos == 1
        body = json.loads(message.payload)
        assert body["message"] == f"too-hot: {device.plug.id} is 45"
        assert (body["device"], body["severity"], body["value"]) == (device.plug.id, "critical", 45)
        assert queued.count() == 0
        outbox_deliver(seconds=1)
        assert len(reader.messages) == 1 and not rival.messages
    finally:
        reader.stop()
        rival.stop()
