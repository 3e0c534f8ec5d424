"""`lastIn` / `lastOut` read like properties of the device (SPEC §12): the property dialect's
latest values and series answer them over HTTP, and a mirror subscriber of a live server
receives each new value over MQTT (paho, a real socket), beside the written property."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from alerts.models import DeviceActivity
from devices.models import Property
from devices.services.plugs import Enrolled
from plugboard.models import Account
from plugboard.timestamps import iso, now_ms
from tests.alerts.test_activity import set_period
from tests.commands.mqtt.clients import Device, connect_device
from tests.commands.mqtt.conftest import server  # noqa: F401 - the live server fixture
from tests.conftest import Tenant
from tests.support import ServerProcess, wait_for

Write = Callable[..., Any]


@pytest.mark.django_db
def test_last_in_and_last_out_read_like_properties(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write
) -> None:
    h = tenant.master_headers()
    data = f"/v3/data/devices/{device.plug.id}"
    # Without a period nothing is kept, and asking costs no query of the activity table.
    with CaptureQueriesContext(connection) as reads:
        assert "lastIn" not in api.get(data, **h).json()
    assert not any("alerts_" in q["sql"] for q in reads.captured_queries)
    assert api.get(f"{data}/properties/lastIn", **h).status_code == 404

    set_period(api, tenant, device, 60)
    before = now_ms()
    write(21)
    row = DeviceActivity.objects.get(plug=device.plug)
    assert row.last_in_at is not None and row.last_in_at >= before
    latest = api.get(data, **h).json()
    assert latest["lastIn"] == iso(row.last_in_at) and latest["temperature"] == 21
    assert "lastOut" not in latest  # no command was sent yet
    series = api.get(f"{data}/properties/lastin", **h).json()  # names are case-insensitive
    assert series == {"results": [{"t": iso(row.last_in_at), "v": iso(row.last_in_at)}]}
    later = iso(row.last_in_at + 1)
    assert api.get(f"{data}/properties/lastIn", {"start": later}, **h).json() == {"results": []}

    # A command sent to the device (a write into its public property by the account) is lastOut.
    Property.objects.create(plug=device.plug, name="fan", type="number", access="public")
    r = api.post(f"{data}/properties/fan", {"dps": [{"v": 1}]}, format="json", **h)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    row.refresh_from_db()
    assert row.last_out_property == "fan"
    assert api.get(data, **h).json()["lastOut"] == iso(row.last_out_at)
    # A device's own property of that name is its own.
    Property.objects.create(plug=device.plug, name="lastOut", type="string")
    assert api.get(f"{data}/properties/lastOut", **h).json() == {"results": []}


@pytest.mark.django_db(transaction=True)
def test_a_mirror_subscriber_receives_last_in(
    server: ServerProcess,  # noqa: F811
    api: APIClient,
    tenant: Tenant,
    thing: Enrolled,
) -> None:
    Account.objects.filter(pk=tenant.account.id).update(name="Acme")
    # Committed here (a transactional test): the server's snapshot learns of it through Redis.
    r = api.put(f"/v3/devices/{thing.plug.id}", {"period": 60}, format="json", **tenant.master_headers())
    assert r.status_code == 200
    key_id, secret = tenant.user_key()
    reader = Device(server, "dashboard", key_id, secret)
    assert wait_for(lambda: reader.connack, timeout=30) == [0]
    reader.client.subscribe("acme/devices/thermostat/properties/#", qos=1)
    assert wait_for(lambda: reader.subacks == [[1]], timeout=30)
    device = connect_device(server, thing)
    try:
        # The server's snapshot learns of the period within its check interval (1 s).
        def both() -> bool:
            device.client.publish(
                f"csipio/data/out/devices/{thing.plug.id}/properties/temperature", "21", qos=1
            )
            return wait_for(lambda: any(m.topic.endswith("/lastin") for m in reader.messages), timeout=2)

        assert wait_for(both, timeout=30)

        def latest_is_kept() -> bool:  # the last value received is the one the device row keeps
            last = [m for m in reader.messages if m.topic == "acme/devices/thermostat/properties/lastin"][-1]
            row = DeviceActivity.objects.get(plug=thing.plug)
            return row.last_in_at is not None and json.loads(last.payload) == iso(row.last_in_at)

        assert wait_for(latest_is_kept, timeout=10)
        assert any(m.topic == "acme/devices/thermostat/properties/temperature" for m in reader.messages)
    finally:
        device.stop()
        reader.stop()
