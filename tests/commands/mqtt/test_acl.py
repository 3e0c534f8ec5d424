"""SPEC §7 topic rights of keys that act for an account (user keys, API client keys), against
the live server: another account's plugs and account are out of reach — SUBACK 0x80 for a
subscription, the connection closed for a PUBLISH — while their own account's are not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from commands.models import Command
from data.models import DataPoint
from devices.models import Property
from plugboard.services import apiclient_create
from tests.commands.mqtt.clients import Device, connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = 0x80


def _client(server: Any, key_id: str, secret: str, client_id: str) -> Device:
    device = Device(server, client_id, key_id, secret)
    assert wait_for(lambda: device.connack) == [0]
    return device


def _credentials(tenant: Any, kind: str) -> tuple[str, str]:
    if kind == "user":
        return tenant.user_key()
    key, secret = apiclient_create(
        account=tenant.account, scope=["device:read-data", "device:write-data"], name="integration"
    )
    return key.id, secret


@pytest.mark.parametrize("kind", ["user", "apiclient"])
def test_another_accounts_topics_are_refused_on_subscribe(
    server: Any, tenant: Any, thing: Any, other_tenant: Any, kind: str
) -> None:
    key_id, secret = _credentials(other_tenant, kind)
    mine = other_tenant.plug("mine")
    intruder = _client(server, key_id, secret, f"b-{kind}")
    try:
        for topic_filter in (
            f"{thing.plug.id}/data/#",
            f"{tenant.account.id}/data/#",
            f"csipio/data/in/devices/{thing.plug.id}/properties/#",
            f"{mine.plug.id}/data/#",  # its own account's plug: allowed
            f"{other_tenant.account.id}/data/#",  # its own account's records: allowed
        ):
            intruder.client.subscribe(topic_filter, qos=1)
        assert wait_for(lambda: len(intruder.subacks) == 5)
        assert intruder.subacks == [[REFUSED], [REFUSED], [REFUSED], [1], [1]]
        assert not intruder.disconnected.is_set()
    finally:
        intruder.stop()


@pytest.mark.parametrize("kind", ["user", "apiclient"])
@pytest.mark.parametrize("family", ["property", "feed", "channel"])
def test_publishing_to_another_accounts_device_closes_the_connection(
    server: Any, tenant: Any, thing: Any, other_tenant: Any, kind: str, family: str
) -> None:
    Property.objects.create(plug=thing.plug, name="setpoint", type="number", access="public")
    key_id, secret = _credentials(other_tenant, kind)
    topic, payload = {
        "property": (f"csipio/data/out/devices/{thing.plug.id}/properties/setpoint", "19"),
        "feed": (
            f"csipio/data/out/devices/{thing.plug.id}/json",
            json.dumps({"dps": [{"prop": "setpoint", "v": 19}]}),
        ),
        "channel": (f"{thing.plug.id}/data/setpoint", json.dumps({"data": 19})),
    }[family]
    intruder = _client(server, key_id, secret, f"b-{kind}-{family}")
    try:
        intruder.client.publish(topic, payload, qos=1)
        assert intruder.disconnected.wait(10), "the connection stayed open"
    finally:
        intruder.client.loop_stop()
    assert not DataPoint.objects.filter(of=thing.plug.id).exists()
    assert not Command.objects.filter(plug=thing.plug).exists()


def test_the_accounts_own_key_still_commands_its_device(server: Any, tenant: Any, thing: Any) -> None:
    """The control case: the same publish by the device's own account is a command."""
    Property.objects.create(plug=thing.plug, name="setpoint", type="number", access="public")
    key_id, secret = tenant.user_key()
    console = _client(server, key_id, secret, "a-console")
    try:
        info = console.client.publish(
            f"csipio/data/out/devices/{thing.plug.id}/properties/setpoint", "19", qos=1
        )
        info.wait_for_publish(timeout=10)
        assert info.is_published() and not console.disconnected.is_set()
    finally:
        console.stop()
    assert wait_for(lambda: Command.objects.filter(plug=thing.plug, property="setpoint").exists())


def test_a_device_subscribes_to_its_own_records(server: Any, thing: Any) -> None:
    device = connect_device(server, thing)
    try:
        device.client.subscribe(f"{thing.plug.id}/data/#", qos=1)
        assert wait_for(lambda: device.subacks) == [[1]]
    finally:
        device.stop()
