"""An account's points per second (plugboard.ratelimits): HTTP writes past it get 429 in the
dialect's shape; an MQTT publisher is slowed, then closed with the reason in the device log.
An API key's rateLimit counts its MQTT CONNECT and PUBLISHes too."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rest_framework.test import APIClient

from data.models import DataPoint
from devices.models import DeviceLogEntry, Plug
from tests.conftest import Tenant
from tests.support import ServerProcess, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(settings: Any, tenant: Tenant) -> int:
    """The tenant's account may write 5 points a second; every other account is unlimited."""
    settings.ACCOUNT_POINTS_PER_SECOND_OVERRIDES = {tenant.account.id: 5}
    return 5


def _plug(enrolled: Any) -> dict[str, str]:
    return {"HTTP_X_PLUG_ID": enrolled.plug.id, "HTTP_X_PLUG_AUTH": enrolled.auth}


def test_the_channel_dialect_refuses_points_past_the_accounts_limit(
    api: APIClient, limited: int, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = tenant.plug("limited"), other_tenant.plug("unlimited")
    records = [{"data": n, "at": 1_700_000_000_000 + n} for n in range(limited + 1)]

    refused = api.put("/iot/data/t", records, format="json", **_plug(mine))
    other = api.put("/iot/data/t", records, format="json", **_plug(theirs))

    assert refused.status_code == 429
    assert set(refused.json()) == {"err", "msg"} and refused.json()["err"] == 429
    assert "points per second" in refused.json()["msg"]
    assert refused["Retry-After"] == "1"
    assert not DataPoint.objects.filter(account_id=tenant.account.id).exists()  # none of them
    assert other.status_code == 200 and len(other.json()) == limited + 1  # another account's own budget


def test_the_property_dialect_refuses_points_past_the_accounts_limit(
    api: APIClient, limited: int, tenant: Tenant
) -> None:
    mine = tenant.plug("limited")
    body = {f"p{n}": n for n in range(limited + 1)}

    refused = api.post(f"/v3/data/devices/{mine.plug.id}", body, format="json", **_plug(mine))

    assert refused.status_code == 429
    [error] = refused.json()
    assert error["code"] == 429 and error["cause"] == "TooManyRequests" and "points" in error["message"]
    assert refused["Retry-After"] == "1"
    assert not DataPoint.objects.filter(account_id=tenant.account.id).exists()


def test_without_a_limit_nothing_is_counted(api: APIClient, tenant: Tenant) -> None:
    mine = tenant.plug("free")
    records = [{"data": n, "at": 1_700_000_000_000 + n} for n in range(500)]
    assert api.put("/iot/data/t", records, format="json", **_plug(mine)).status_code == 200


class Publisher:
    def __init__(self, server: ServerProcess, enrolled: Any) -> None:
        self.connack: list[int] = []
        self.closed = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=enrolled.plug.id, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(enrolled.key.id, enrolled.auth)
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.append(rc.value)
        self.client.on_disconnect = lambda *a: setattr(self, "closed", True)
        self.client.connect("127.0.0.1", server.mqtt_port, keepalive=25)
        self.client.loop_start()
        self.topic = f"{enrolled.plug.id}/data/fast"

    def publish(self, n: int) -> None:
        self.client.publish(self.topic, json.dumps({"data": n, "at": 1_700_000_000_000 + n}), qos=0)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_an_mqtt_publisher_past_the_accounts_limit_is_slowed_then_closed(
    start_server: Callable[..., ServerProcess], tenant: Tenant
) -> None:
    # The embedded default (no Redis): the account's counter lives in the server process.
    limit, strikes = 20, 2
    server = start_server(PLUGBOARD_ACCOUNT_POINTS_PER_SECOND=str(limit), MQTT_LIMIT_STRIKES=str(strikes))
    device = tenant.plug("fast")
    Plug.objects.filter(id=device.plug.id).update(status=Plug.Status.DEBUG)
    publisher = Publisher(server, device)
    try:
        assert wait_for(lambda: publisher.connack) == [0]
        for n in range(2_000):  # as fast as paho sends: far past 20 a second
            publisher.publish(n)
            if publisher.closed:
                break
        assert wait_for(lambda: publisher.closed, timeout=20), "the connection was not closed"
    finally:
        publisher.stop()
    stored = DataPoint.objects.filter(account_id=tenant.account.id, channel="fast").count()
    # Slowed: at most `limit` points in each of the strikes + 1 seconds over the limit, and
    # the second it was first met (the reads wait; nothing is dropped that was read).
    assert 0 < stored <= limit * (strikes + 2)
    [entry] = DeviceLogEntry.objects.filter(plug_id=device.plug.id)
    assert entry.code == "ProtocolError" and f"over its limit of {limit}" in entry.message


@pytest.mark.usefixtures("within_one_minute")
@pytest.mark.django_db(transaction=True)
def test_an_api_keys_rate_limit_counts_its_mqtt_connect_and_publishes(
    start_server: Callable[..., ServerProcess], tenant: Tenant
) -> None:
    server = start_server()
    device = tenant.plug("metered")
    device.key.rate_limit = 3  # a CONNECT and two PUBLISHes a minute
    device.key.save(update_fields=["rate_limit"])
    Plug.objects.filter(id=device.plug.id).update(status=Plug.Status.DEBUG)
    publisher = Publisher(server, device)
    try:
        assert wait_for(lambda: publisher.connack) == [0]
        for n in range(3):
            publisher.publish(n)
        assert wait_for(lambda: publisher.closed, timeout=10), "the connection was not closed"
    finally:
        publisher.stop()
    assert DataPoint.objects.filter(account_id=tenant.account.id, channel="fast").count() == 2
    [entry] = DeviceLogEntry.objects.filter(plug_id=device.plug.id)
    assert "rate limit of this API key (3/min)" in entry.message

    again = Publisher(server, device)  # a fourth request of the minute: refused at CONNECT
    try:
        assert wait_for(lambda: again.connack, timeout=10) == [136]  # paho: 3, "server unavailable"
    finally:
        again.stop()


async def test_meters_of_two_connections_share_the_accounts_count() -> None:
    from plugboard.ratelimits import Meter

    # An hour's window: no calendar boundary falls between the calls.
    def first(w: int) -> str:
        return f"test-meter:{w}"

    one, two = Meter(10, 3600, first), Meter(10, 3600, first)
    assert await one.take(6) == 0
    assert await two.take(4) == 0  # 10 of 10
    assert await two.take(1) > 0  # the 11th, counted by the other connection's meter
    assert await Meter(10, 3600, lambda w: f"test-meter-other:{w}").take(10) == 0  # another counter
