"""MQTT device mirroring (SPEC §13): read-only `{account}/devices/{device}/properties/{name}` and
`{account}/apps/{app}/devices/{device}/properties/{name}` topics, for user keys and API client
keys with `device:read-data` (account or app context), against the live server with paho-mqtt
over TCP and WebSocket: every accepted point of every write path reaches a subscriber; anything
outside the key's context gets SUBACK 0x80; a PUBLISH there closes the connection."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
from channels.db import database_sync_to_async

from commands.mqtt import mirror as mirror_module
from commands.mqtt.mirror import Mirror, connect_username
from commands.mqtt.protocol.topics import MirrorFilter, parse_mirror_filter, parse_subscription, topic_matches
from devices.access import Mode, reach
from devices.identity import Credentials, verify
from devices.models import Control, Plug, Property
from plugboard.models import Account, ApiKey
from plugboard.principals import Principal
from plugboard.services import apiclient_create
from tests.commands.mqtt.clients import Device, connect_device
from tests.conftest import Tenant, basic
from tests.support import ServerProcess, wait_for

REFUSED = 0x80


# --- the grammar (no server) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "parsed"),
    [
        ("acme/devices/boiler/properties/temp", MirrorFilter("acme", False, None, "boiler")),
        ("acme/devices/boiler/properties/#", MirrorFilter("acme", False, None, "boiler")),
        ("acme/devices/+/properties/+", MirrorFilter("acme", False, None, None)),
        ("acme/devices/#", MirrorFilter("acme", False, None, None)),
        ("acme/devices/dev-1/#", MirrorFilter("acme", False, None, "dev-1")),
        ("acme/apps/hvac/devices/#", MirrorFilter("acme", True, "hvac", None)),
        ("acme/apps/hvac/devices/ir.1/properties/soiltemp", MirrorFilter("acme", True, "hvac", "ir.1")),
        ("acme/apps/+/devices/+/properties/#", MirrorFilter("acme", True, None, None)),
        ("acme/apps/#", MirrorFilter("acme", True, None, None)),
        ("a@b.com/devices/x/properties/home/kitchen", MirrorFilter("a@b.com", False, None, "x")),
        # Where alert notifications go on the platform's own broker (SPEC §12).
        ("acme/alerts/boiler", MirrorFilter("acme", False, None, "boiler", alerts=True)),
        ("acme/alerts/+", MirrorFilter("acme", False, None, None, alerts=True)),
        ("acme/alerts/#", MirrorFilter("acme", False, None, None, alerts=True)),
    ],
)
def test_mirror_filters(topic_filter: str, parsed: MirrorFilter) -> None:
    assert parse_mirror_filter(topic_filter) == parsed
    wanted = parse_subscription(topic_filter)
    assert wanted is not None and wanted.mirror == parsed


@pytest.mark.parametrize(
    "topic_filter",
    [
        "acme/#",  # both families at once
        "+/devices/boiler/properties/#",  # the account is named
        "Acme/devices/boiler/properties/#",  # lower case, as Connio's
        "acme/devices/Boiler/properties/#",
        "acme/devices/boiler",  # no property level
        "acme/devices/boiler/properties",
        "acme/+/boiler/properties/#",
        "acme/things/boiler/properties/#",
        "acme/apps/hvac/boiler/properties/#",
        "acme/apps/hvac/devices/x/state/#",
        "acme/alerts",
        "acme/alerts/",
        "acme/alerts/boiler/temperature",
        "acme/alerts/boil+",
        "Acme/alerts/boiler",
    ],
)
def test_not_mirror_filters(topic_filter: str) -> None:
    assert parse_mirror_filter(topic_filter) is None


def test_the_username_asks_for_the_data_point_form() -> None:
    assert connect_username("_key_abc") == ("_key_abc", "raw")
    assert connect_username(None) == (None, "raw")
    assert connect_username("_key_abc?format=dp") == ("_key_abc", "dp")
    assert connect_username("_key_abc?format=raw") == ("_key_abc", "raw")
    assert connect_username("_key_abc?format=csv") is None
    assert connect_username("_key_abc?color=red") is None


# --- against the live server ------------------------------------------------------------------


def _named(tenant: Tenant, name: str) -> str:
    Account.objects.filter(pk=tenant.account.id).update(name=name)
    return name.lower()


def _key(tenant: Tenant, kind: str, app: Any = None) -> tuple[str, str]:
    if kind == "user":
        return tenant.user_key()
    if kind == "app":
        key, secret = apiclient_create(
            account=tenant.account,
            scope=["device:read-data"],
            context_type=ApiKey.ContextType.APP,
            app=app.plug,
        )
    else:
        key, secret = apiclient_create(account=tenant.account, scope=["device:read-data"])
    return key.id, secret


def _subscriber(
    server: ServerProcess,
    username: str,
    secret: str,
    filters: list[str],
    client_id: str = "dashboard",
    **kw: Any,
) -> Device:
    client = Device(server, client_id, username, secret, **kw)
    assert wait_for(lambda: client.connack, timeout=30) == [0]
    for topic_filter in filters:
        client.client.subscribe(topic_filter, qos=1)
    assert wait_for(lambda: len(client.subacks) == len(filters), timeout=30)
    return client


def _console_command(server: ServerProcess, tenant: Tenant, plug: Plug, prop: Property, value: str) -> None:
    """A command written through the operator console, signed in over HTTP as a browser would."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def token(path: str) -> str:
        with browser.open(server.base + path, timeout=10) as page:
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        assert found, path
        return found.group(1)

    def post(path: str, form: dict[str, str]) -> None:
        body = urllib.parse.urlencode(form).encode()
        with browser.open(server.base + path, data=body, timeout=10) as answer:
            assert answer.status == 200

    post(
        "/console/sign-in/",
        {
            "email": tenant.email,
            "password": tenant.password,
            "csrfmiddlewaretoken": token("/console/sign-in/"),
        },
    )
    post(
        f"/console/plugs/{plug.id}/command/",
        {"property": prop.id, "value": value, "csrfmiddlewaretoken": token(f"/console/plugs/{plug.id}/")},
    )


def _received(client: Device, count: int) -> list[tuple[str, Any]]:
    assert wait_for(lambda: len(client.messages) >= count, timeout=30), [m.topic for m in client.messages]
    return [(m.topic, json.loads(m.payload)) for m in client.messages]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "transport"), [("user", "tcp"), ("apiclient", "websockets")])
def test_every_write_path_reaches_a_mirror_subscriber(
    server: ServerProcess, tenant: Tenant, thing: Any, kind: str, transport: str
) -> None:
    account = _named(tenant, "Acme")
    setpoint = Property.objects.create(plug=thing.plug, name="setPoint", type="number", access="public")
    key_id, secret = _key(tenant, kind)
    subscriber = _subscriber(
        server, key_id, secret, [f"{account}/devices/thermostat/properties/#"], transport=transport
    )
    device = connect_device(server, thing)
    try:
        assert subscriber.subacks == [[1]]
        # MQTT (the device itself), the property dialect, the channel dialect, the console.
        device.client.publish(
            f"csipio/data/out/devices/{thing.plug.id}/properties/temperature", "21.5", qos=1
        )
        assert _received(subscriber, 1) == [(f"{account}/devices/thermostat/properties/temperature", 21.5)]
        status, _ = server.http(
            "POST",
            f"/v3/data/devices/{thing.plug.id}/properties/humidity",
            {"dps": [{"v": 40}]},
            {"Authorization": basic(thing.key.id, thing.auth)["HTTP_AUTHORIZATION"]},
        )
        assert status == 200
        headers = {"X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth}
        status, _ = server.http("PUT", "/iot/data/door", {"data": "open"}, headers)
        assert status == 200
        _console_command(server, tenant, thing.plug, setpoint, "19")
        assert _received(subscriber, 4)[1:] == [
            (f"{account}/devices/thermostat/properties/humidity", 40),
            (f"{account}/devices/thermostat/properties/door", "open"),
            (f"{account}/devices/thermostat/properties/setpoint", 19),  # lower case, as Connio's
        ]
        assert all(m.qos == 1 for m in subscriber.messages)
    finally:
        device.stop()
        subscriber.stop()


@pytest.mark.django_db(transaction=True)
def test_an_app_key_reads_its_apps_devices_and_nothing_else(
    server: ServerProcess, tenant: Tenant, other_tenant: Tenant
) -> None:
    account = _named(tenant, "inbiza")
    other = _named(other_tenant, "rival")
    app = tenant.plug("smart-irrigation", kind=Plug.Kind.CONTROLLER)
    other_app = tenant.plug("lighting", kind=Plug.Kind.CONTROLLER)
    plugged = tenant.plug("ir.1")
    loose = tenant.plug("ir.2")  # of the account, in no app
    Control.objects.create(controller=app.plug, thing=plugged.plug)
    key_id, secret = _key(tenant, "app", app)
    foreign_key, foreign_secret = _key(other_tenant, "apiclient")
    no_data, no_data_secret = apiclient_create(account=tenant.account, scope=["device:read"])
    no_data_key = no_data.id

    reader = _subscriber(
        server,
        key_id,
        secret,
        [
            f"{account}/apps/smart-irrigation/devices/#",  # Connio's documented filter
            f"{account}/devices/+/properties/soiltemp",
            f"{account}/devices/ir.2/properties/#",  # not in the app
            f"{account}/apps/lighting/devices/#",  # another app
            f"{account}/apps/smart-irrigation/devices/ir.2/properties/#",  # not plugged into it
            f"{other}/devices/+/properties/#",  # another account
        ],
    )
    strangers = [
        _subscriber(server, foreign_key, foreign_secret, [f"{account}/devices/+/properties/#"], "spy"),
        _subscriber(server, no_data_key, no_data_secret, [f"{account}/devices/ir.1/properties/#"], "peek"),
    ]
    device = connect_device(server, plugged)
    sensor = tenant.plug("ir.3")  # a device key reads no mirror, not even of its account
    device_key_reader = Device(server, sensor.plug.id, sensor.key.id, sensor.auth)
    assert wait_for(lambda: device_key_reader.connack, timeout=30) == [0]
    device_key_reader.client.subscribe(f"{account}/devices/ir.1/properties/#", qos=1)
    outsider = connect_device(server, loose)
    try:
        assert reader.subacks == [[1], [1], [REFUSED], [REFUSED], [REFUSED], [REFUSED]]
        assert [s.subacks for s in strangers] == [[[REFUSED]], [[REFUSED]]]
        assert wait_for(lambda: device_key_reader.subacks, timeout=30) == [[REFUSED]]
        outsider.client.publish(f"csipio/data/out/devices/{loose.plug.id}/properties/soiltemp", "9", qos=1)
        device.client.publish(f"csipio/data/out/devices/{plugged.plug.id}/properties/soiltemp", "12.5", qos=1)
        received = _received(reader, 2)
        assert sorted(received) == [
            (f"{account}/apps/smart-irrigation/devices/ir.1/properties/soiltemp", 12.5),
            (f"{account}/devices/ir.1/properties/soiltemp", 12.5),
        ]
        assert wait_for(lambda: Property.objects.filter(plug=loose.plug, name="soiltemp").exists())
        assert len(reader.messages) == 2  # nothing of ir.2, which was written first
        assert all(not s.messages for s in strangers) and not device_key_reader.messages
        assert other_app.plug.id  # (an app of the account the key has no right to)
    finally:
        for client in (device, outsider, device_key_reader, reader, *strangers):
            client.stop()


@pytest.mark.django_db(transaction=True)
def test_data_points_when_asked_and_publishing_to_a_mirror_closes(
    server: ServerProcess, tenant: Tenant, thing: Any
) -> None:
    account = tenant.email.lower()  # an account without a name is named by its email
    key_id, secret = _key(tenant, "user")
    refused = Device(server, "dashboard-2", f"{key_id}?format=csv", secret)
    # CONNACK 0x04 (paho's MQTT 5 reason code 134 for it)
    assert wait_for(lambda: refused.connack, timeout=30) in ([0x04], [134])
    refused.stop()
    points = _subscriber(server, f"{key_id}?format=dp", secret, [f"{account}/devices/{thing.plug.id}/#"])
    device = connect_device(server, thing)
    try:
        assert points.subacks == [[1]]
        at = "2026-11-21T10:00:00.250Z"
        device.client.publish(
            f"csipio/data/out/devices/{thing.plug.id}/json",
            json.dumps({"dps": [{"prop": "temperature", "v": 22, "t": at}]}),
            qos=1,
        )
        assert _received(points, 1) == [
            (f"{account}/devices/{thing.plug.id}/properties/temperature", {"t": at, "v": 22})
        ]
        # Mirrors are read-only: a PUBLISH there closes the connection.
        points.client.publish(f"{account}/devices/{thing.plug.id}/properties/temperature", "5", qos=1)
        assert points.disconnected.wait(10)
        assert not Property.objects.filter(plug=thing.plug, last_value=5).exists()
    finally:
        device.stop()
        points.stop()


@pytest.mark.django_db(transaction=True)
def test_a_persistent_session_keeps_its_mirror_subscriptions(
    server: ServerProcess, tenant: Tenant, thing: Any
) -> None:
    account = _named(tenant, "Acme")
    key_id, secret = _key(tenant, "apiclient")
    first = _subscriber(server, key_id, secret, [f"{account}/devices/+/properties/#"], "archive", clean=False)
    assert first.subacks == [[1]]
    first.stop()
    # Back without subscribing again: the session's mirror filter is granted again and read.
    again = Device(server, "archive", key_id, secret, clean=False)
    device = connect_device(server, thing)
    try:
        assert wait_for(lambda: again.session_present, timeout=30) == [True]
        device.client.publish(f"csipio/data/out/devices/{thing.plug.id}/properties/temperature", "7", qos=1)
        assert _received(again, 1) == [(f"{account}/devices/thermostat/properties/temperature", 7)]
    finally:
        device.stop()
        again.stop()


def _app_reader(tenant: Tenant) -> tuple[Principal, str, str]:
    app = tenant.plug("smart-irrigation", kind=Plug.Kind.CONTROLLER)
    thing = tenant.plug("ir.1")
    Control.objects.create(controller=app.plug, thing=thing.plug)
    key, secret = apiclient_create(
        account=tenant.account, scope=["device:read-data"], context_type=ApiKey.ContextType.APP, app=app.plug
    )
    principal = verify(Credentials("key", key.id, secret))
    assert principal is not None
    return principal, app.plug.id, thing.plug.id


@pytest.mark.django_db(transaction=True)
async def test_a_device_unplugged_from_an_app_stops_reaching_the_app_keys_mirror(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the connection knows (names, apps, reach) is read again after NAMES_SECONDS: 0 here,
    # so the next records see the change at once.
    monkeypatch.setattr(mirror_module, "NAMES_SECONDS", 0.0)
    principal, app_id, thing_id = await database_sync_to_async(_app_reader)(tenant)
    account = tenant.email.lower()
    wanted = [f"{account}/devices/+/properties/#", f"{account}/apps/smart-irrigation/devices/#"]
    mirror = Mirror(principal, "raw")
    await mirror.learn(wanted, await database_sync_to_async(reach)(principal, Mode.READ))
    assert mirror.granted == set(wanted)

    def granted(topic: str) -> int | None:
        return 1 if any(topic_matches(f, topic) for f in wanted) else None

    record = {"id": "0" * 24, "channel": "soilTemp", "data": 12.5, "at": 1_796_173_615_129, "of": thing_id}
    assert sorted(await mirror.messages([record], granted)) == [
        (f"{account}/apps/smart-irrigation/devices/ir.1/properties/soiltemp", 12.5, 1),
        (f"{account}/devices/ir.1/properties/soiltemp", 12.5, 1),
    ]
    await database_sync_to_async(lambda: Control.objects.filter(controller_id=app_id).delete())()
    assert await mirror.messages([record], granted) == []
