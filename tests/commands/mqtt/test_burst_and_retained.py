"""Issue 24, over a real MQTT connection to `manage.py serve`:

- one connection's burst of values without a time, to one property, stores every value in the
  order sent (SPEC §4 rule 1: server-given times never collide);
- a command's value is retained for a new subscriber only until the command expires (SPEC §7).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from commands.models import Command
from data.models import DataPoint
from devices.models import Property
from plugboard.timestamps import now_ms
from tests.commands.mqtt.clients import connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _master(tenant: Any) -> dict[str, str]:
    return {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}


def test_a_burst_without_times_stores_every_value_in_order(server: Any, thing: Any) -> None:
    device = connect_device(server, thing)
    try:
        topic = f"csipio/data/out/devices/{thing.plug.id}/properties/level"
        infos = [device.client.publish(topic, json.dumps(n), qos=1) for n in range(30)]
        for info in infos:
            info.wait_for_publish(timeout=10)
        assert all(info.is_published() for info in infos)
    finally:
        device.stop()
    stored = list(
        DataPoint.objects.filter(of=thing.plug.id, channel="level").order_by("at").values_list("data", "at")
    )
    assert [value for value, _ in stored] == list(range(30))
    times = [at for _, at in stored]
    assert all(a < b for a, b in zip(times, times[1:], strict=False))


def _retained_after_subscribe(server: Any, thing: Any) -> list[Any]:
    device = connect_device(server, thing)
    try:
        device.client.subscribe(f"csipio/data/in/devices/{thing.plug.id}/properties/#", qos=1)
        assert wait_for(lambda: device.subacks) == [[1]]
        info = device.client.publish(f"csipio/data/out/devices/{thing.plug.id}/properties/t", "1", qos=1)
        info.wait_for_publish(timeout=10)  # a round trip: anything sent before it has arrived
        return [json.loads(m.payload) for m in device.messages if m.retain]
    finally:
        device.stop()


def test_a_commands_value_is_retained_only_until_it_expires(server: Any, tenant: Any, thing: Any) -> None:
    Property.objects.create(plug=thing.plug, name="mode", type="string", access="public")
    status, receipt = server.http(
        "POST", f"/v3/data/devices/{thing.plug.id}", {"mode": "eco"}, _master(tenant)
    )
    assert status == 200 and receipt == {"accepted": 1, "rejected": 0}
    Command.objects.filter(plug=thing.plug).update(state=Command.State.ACKED)
    assert _retained_after_subscribe(server, thing) == ["eco"]

    Command.objects.filter(plug=thing.plug).update(expire_at=now_ms() - 1)
    assert _retained_after_subscribe(server, thing) == []
