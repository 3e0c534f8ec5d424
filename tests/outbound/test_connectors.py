"""Data connectors (SPEC §13) through the API, against real receivers: a local HTTP receiver, the
system Mosquitto read back with paho, the system RabbitMQ read back with pika."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pika
import pytest
from django.test.utils import override_settings
from rest_framework.test import APIClient

from data.services import StoredPoint, WriteOutcome
from outbound.connectors import connectors_sink, watched_devices
from outbound.models import DataConnector, OutboxMessage
from outbound.outbox import outbox_deliver
from tests.conftest import Enrolled, Tenant, plug_headers
from tests.devices.test_v3_apps import make_app
from tests.devices.test_v3_profiles import assert_v3_error, send
from tests.outbound.receivers import HttpReceiver
from tests.support import accepts, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CI = bool(os.environ.get("CI"))  # CI starts both brokers (.ci/run): there a missing one fails
LOCAL = override_settings(PLUGBOARD_OUTBOUND_ALLOW_NETWORKS=["127.0.0.0/8", "::1/128"])


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rec = HttpReceiver()
    yield rec
    rec.stop()


@pytest.fixture
def app(api: APIClient, tenant: Tenant, thing: Enrolled) -> dict[str, Any]:
    """An app with the thermostat plugged into it."""
    made = make_app(api, tenant, "hvac")
    plugged = send(api, "put", f"/v3/devices/{thing.plug.id}", {"apps": ["hvac"]}, **tenant.master_headers())
    assert plugged.status_code == 200, plugged.content
    return made


def _create(api: APIClient, tenant: Tenant, body: dict[str, Any], app: str = "hvac") -> Any:
    return send(api, "post", f"/v3/apps/{app}/dataconnectors", body, **tenant.master_headers())


def _write(api: APIClient, thing: Enrolled, values: dict[str, Any]) -> None:
    response = send(api, "post", f"/v3/data/devices/{thing.plug.id}", values, **plug_headers(thing))
    assert response.status_code == 200, response.content


def _drain() -> None:
    while outbox_deliver():
        pass


@LOCAL
def test_crud_never_returns_credentials(api: APIClient, tenant: Tenant, app: dict[str, Any]) -> None:
    made = _create(
        api,
        tenant,
        {
            "type": "http",
            "url": "http://127.0.0.1:9/hook",
            "signatureKey": "s3cret-key",
            "credentials": {"user": "bob", "password": "pw-1"},
            "headers": {"X-Team": "blue"},
            "properties": ["temperature"],
        },
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["id"].startswith("_dcn_") and body["appId"] == app["id"] and body["type"] == "http"
    assert (body["signed"], body["credentials"], body["headers"]) == (
        True,
        {"user": "bob"},
        {"X-Team": "blue"},
    )
    assert body["status"] == {
        "delivered": 0,
        "pending": 0,
        "failed": 0,
        "dead": 0,
        "lagSeconds": 0,
        "lastError": "",
        "lastErrorAt": None,
        "lastDeliveredAt": None,
    }
    mqtt_made = _create(api, tenant, {"type": "mqtt", "url": "mqtt://bridge:pw-2@127.0.0.1:1883"}).json()
    assert (
        mqtt_made["url"] == "mqtt://bridge@127.0.0.1:1883"
        and mqtt_made["topic"] == "${account}/${device}/${property}"
    )
    amqp_made = _create(
        api, tenant, {"type": "amqp", "url": "amqp://guest:pw-3@127.0.0.1:5672/%2F", "exchange": "x"}
    ).json()
    for path in (
        "/v3/apps/hvac/dataconnectors",
        f"/v3/accounts/{tenant.account.id}/apps/hvac/dataconnectors",
    ):
        listed = api.get(path, **tenant.master_headers())
        assert listed.status_code == 200 and listed.json()["total"] == 3
        text = listed.content.decode()
        assert not any(secret in text for secret in ("s3cret-key", "pw-1", "pw-2", "pw-3"))
    stored = DataConnector.objects.get(id=mqtt_made["id"])
    assert "pw-2" not in json.dumps(stored.config) and "pw-2" not in stored.secrets  # encrypted
    changed = send(
        api,
        "put",
        f"/v3/apps/hvac/dataconnectors/{body['id']}",
        {"disabled": True},
        **tenant.master_headers(),
    )
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert changed.json()["signed"] is True, "credentials are kept unless given"
    assert_v3_error(
        send(
            api,
            "put",
            f"/v3/apps/hvac/dataconnectors/{body['id']}",
            {"type": "mqtt"},
            **tenant.master_headers(),
        ),
        400,
    )
    gone = api.delete(f"/v3/apps/hvac/dataconnectors/{amqp_made['id']}", **tenant.master_headers())
    assert gone.status_code == 200
    assert_v3_error(
        api.get(f"/v3/apps/hvac/dataconnectors/{amqp_made['id']}", **tenant.master_headers()), 404
    )


@LOCAL
def test_bad_bodies_and_at_most_ten(api: APIClient, tenant: Tenant, app: dict[str, Any]) -> None:
    for bad in (
        {"url": "http://127.0.0.1/x"},  # no type
        {"type": "ftp", "url": "ftp://127.0.0.1/"},
        {"type": "http"},  # no url
        {"type": "http", "url": "mqtt://127.0.0.1"},  # scheme of another type
        {"type": "mqtt", "url": "mqtt://127.0.0.1", "topic": "${account}/${nope}"},
        {"type": "amqp", "url": "amqp://127.0.0.1"},  # no exchange
        {"type": "http", "url": "http://127.0.0.1/x", "headers": {f"h{i}": "v" for i in range(11)}},
        {"type": "http", "url": "http://127.0.0.1/x", "channels": ["a/#/b"]},
        {"type": "http", "url": "http://127.0.0.1/x", "properties": "temperature"},
        {"type": "http", "url": "http://no-such-host.invalid/x"},
    ):
        assert_v3_error(_create(api, tenant, bad), 400)
    for _ in range(10):
        assert _create(api, tenant, {"type": "http", "url": "http://127.0.0.1:9/x"}).status_code == 201
    assert (
        "at most 10"
        in assert_v3_error(_create(api, tenant, {"type": "http", "url": "http://127.0.0.1/"}), 400)[0][
            "message"
        ]
    )


def test_targets_on_non_public_addresses_are_refused(
    api: APIClient, tenant: Tenant, app: dict[str, Any]
) -> None:
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ):
        refused = assert_v3_error(_create(api, tenant, {"type": "http", "url": url}), 400)
        assert "PLUGBOARD_OUTBOUND_ALLOW_NETWORKS" in refused[0]["message"], url
    for url in ("mqtt://127.0.0.1:1883", "amqp://guest:guest@127.0.0.1/"):
        body = {"type": url.split(":")[0], "url": url, "exchange": "x"}
        assert_v3_error(_create(api, tenant, body), 400)
    with override_settings(PLUGBOARD_OUTBOUND_ALLOW_NETWORKS=["10.0.0.0/8"]):
        assert _create(api, tenant, {"type": "http", "url": "http://10.1.2.3/hook"}).status_code == 201
        assert_v3_error(_create(api, tenant, {"type": "http", "url": "http://127.0.0.1/hook"}), 400)


def test_another_account_sees_no_connector(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, app: dict[str, Any]
) -> None:
    with LOCAL:
        made = _create(api, tenant, {"type": "http", "url": "http://127.0.0.1:9/x"}).json()
    for path in (f"/v3/apps/{app['id']}/dataconnectors", f"/v3/apps/{app['id']}/dataconnectors/{made['id']}"):
        assert_v3_error(api.get(path, **other_tenant.master_headers()), 404)


@LOCAL
def test_http_forwards_signed_batches_of_the_plugged_devices_points(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any], receiver: HttpReceiver
) -> None:
    loose = tenant.plug("loose")  # not plugged into the app
    made = _create(
        api,
        tenant,
        {"type": "http", "url": receiver.url, "signatureKey": "k3y", "properties": ["temperature"]},
    ).json()
    channel_only = _create(api, tenant, {"type": "http", "url": receiver.url, "channels": ["room/+"]}).json()
    _write(api, thing, {"temperature": 21.5, "humidity": 40})
    _write(api, loose, {"temperature": 99})
    published = send(api, "put", "/iot/data/room/temp", {"data": 7}, **plug_headers(thing))
    assert published.status_code == 200, published.content
    _write(api, thing, {"temperature": 22})
    _drain()
    by_connector: dict[str, list[Any]] = {}
    for request in receiver.requests:
        body = request.json()
        assert request.headers["X-Plugboard-Delivery"] == body["deliveryId"]
        by_connector.setdefault(body["connector"], []).extend(body["points"])
        if body["connector"] == made["id"]:
            expected = "sha256=" + hmac.new(b"k3y", request.body, hashlib.sha256).hexdigest()
            assert request.headers["X-Plugboard-Signature"] == expected
        else:
            assert "X-Plugboard-Signature" not in request.headers
    points = by_connector[made["id"]]
    assert [(p["device"], p["property"], p["v"]) for p in points] == [
        (thing.plug.id, "temperature", 21.5),
        (thing.plug.id, "temperature", 22),
    ]
    assert points[0]["account"] == tenant.account.id and points[0]["t"].endswith("Z") and points[0]["id"]
    assert [(p["property"], p["v"]) for p in by_connector[channel_only["id"]]] == [("room/temp", 7)]
    status = api.get(f"/v3/apps/hvac/dataconnectors/{made['id']}", **tenant.master_headers()).json()["status"]
    assert (status["delivered"], status["pending"], status["failed"]) == (2, 0, 0)
    assert status["lastDeliveredAt"]


@LOCAL
def test_the_sink_costs_no_query_for_unwatched_devices(
    tenant: Tenant, thing: Enrolled, app: dict[str, Any], django_assert_num_queries: Any
) -> None:
    loose = tenant.plug("loose")
    outcome = WriteOutcome(
        source="test",
        stored=[StoredPoint(tenant.account.id, loose.plug.id, "t", 1, 1, "0" * 24, False, "c")] * 100,
        rejected=0,
    )
    watched_devices()  # loaded (the connectors exist or not: the map is loaded either way)
    with django_assert_num_queries(0):
        connectors_sink(outcome)
    assert not OutboxMessage.objects.exists()


@LOCAL
@override_settings(PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.05])
def test_failures_are_retried_redirects_not_followed_and_the_test_endpoint(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any], receiver: HttpReceiver
) -> None:
    made = _create(api, tenant, {"type": "http", "url": receiver.url}).json()
    test_path = f"/v3/apps/hvac/dataconnectors/{made['id']}/test"
    tested = send(api, "post", test_path, {}, **tenant.master_headers())
    assert tested.status_code == 200 and tested.json() == {"success": True}
    assert receiver.requests[-1].json()["points"][0]["test"] is True
    receiver.down = True
    failed = assert_v3_error(send(api, "post", test_path, {}, **tenant.master_headers()), 502)
    assert "503" in failed[0]["message"]
    receiver.down = False
    receiver.redirect_to = "http://127.0.0.1:1/elsewhere"
    _write(api, thing, {"temperature": 1})
    outbox_deliver()
    status = api.get(f"/v3/apps/hvac/dataconnectors/{made['id']}", **tenant.master_headers()).json()["status"]
    assert (
        status["pending"] == 1
        and status["failed"] == 1
        and "redirects are not followed" in status["lastError"]
    )
    assert status["lagSeconds"] >= 0 and status["lastErrorAt"]
    # The network rule again at delivery time: the allow-list no longer covers the receiver.
    receiver.redirect_to = ""

    def status_now() -> dict[str, Any]:
        path = f"/v3/apps/hvac/dataconnectors/{made['id']}"
        return api.get(path, **tenant.master_headers()).json()["status"]

    with override_settings(PLUGBOARD_OUTBOUND_ALLOW_NETWORKS=[]):
        assert wait_for(lambda: outbox_deliver(seconds=0) or "non-public" in status_now()["lastError"])
        assert status_now()["pending"] == 1
        assert_v3_error(send(api, "post", test_path, {}, **tenant.master_headers()), 400)
    assert wait_for(lambda: outbox_deliver(seconds=0) or status_now()["pending"] == 0)
    assert receiver.requests[-1].json()["points"][0]["v"] == 1


@LOCAL
@override_settings(PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0], PLUGBOARD_OUTBOUND_RETENTION_SECONDS=0)
def test_dead_letters_listed_and_replayed_through_the_api(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any], receiver: HttpReceiver
) -> None:
    made = _create(api, tenant, {"type": "http", "url": receiver.url}).json()
    base = f"/v3/apps/hvac/dataconnectors/{made['id']}"
    receiver.down = True
    _write(api, thing, {"temperature": 1, "humidity": 2})  # one write: one letter of two points
    _write(api, thing, {"temperature": 3})
    outbox_deliver()
    letters = api.get(f"{base}/deadletters", **tenant.master_headers()).json()
    assert [(d["device"], [p["v"] for p in d["points"]]) for d in letters] == [
        (thing.plug.id, [1, 2]),
        (thing.plug.id, [3]),
    ]
    assert "503" in letters[0]["error"] and letters[0]["attempts"] == 1
    assert api.get(base, **tenant.master_headers()).json()["status"]["dead"] == 3
    receiver.down = False
    with override_settings(PLUGBOARD_OUTBOUND_RETENTION_SECONDS=3600):
        replayed = send(api, "post", f"{base}/replay", {"ids": [letters[1]["id"]]}, **tenant.master_headers())
        assert replayed.json() == {"nrOfItems": 1}
        assert send(api, "post", f"{base}/replay", {}, **tenant.master_headers()).json() == {"nrOfItems": 1}
        _drain()
    delivered = [p["v"] for r in receiver.requests for p in r.json()["points"]]
    assert delivered == [1, 2, 3]
    assert api.get(f"{base}/deadletters", **tenant.master_headers()).json() == []


@LOCAL
@pytest.mark.skipif(not accepts(1883) and not CI, reason="needs the system Mosquitto on 1883")
def test_mqtt_connector_publishes_each_point_to_the_broker(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any]
) -> None:
    prefix = f"pbtest-{uuid.uuid4().hex[:8]}"
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    reader = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    subscribed = threading.Event()
    reader.on_message = lambda c, u, m: received.put((m.topic, m.payload))
    reader.on_subscribe = lambda *_: subscribed.set()
    reader.connect("127.0.0.1", 1883)
    reader.subscribe(f"{prefix}/#", qos=1)
    reader.loop_start()
    try:
        made = _create(
            api,
            tenant,
            {"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": prefix + "/${device}/${property}"},
        )
        assert made.status_code == 201, made.content
        assert subscribed.wait(timeout=10)
        _write(api, thing, {"temperature": 20, "humidity": 30})
        _drain()
        got = [received.get(timeout=10) for _ in range(2)]
    finally:
        reader.loop_stop()
        reader.disconnect()
    assert [(t, json.loads(p)["v"]) for t, p in got] == [
        (f"{prefix}/{thing.plug.id}/temperature", 20),
        (f"{prefix}/{thing.plug.id}/humidity", 30),
    ]


@LOCAL
@pytest.mark.skipif(not accepts(5672) and not CI, reason="needs the system RabbitMQ on 5672")
def test_amqp_connector_publishes_to_the_exchange(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any]
) -> None:
    exchange = f"pbtest-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", auto_delete=True)
    declared = channel.queue_declare("", exclusive=True)
    channel.queue_bind(declared.method.queue, exchange, routing_key="#")
    try:
        made = _create(
            api,
            tenant,
            {
                "type": "amqp",
                "url": "amqp://guest:guest@127.0.0.1:5672/%2F",
                "exchange": exchange,
                "routingKey": "${device}.${property}",
            },
        )
        assert made.status_code == 201, made.content
        assert "guest:guest" not in made.content.decode()
        _write(api, thing, {"temperature": 20, "humidity": 30})
        _drain()

        def one() -> Any:
            method, properties, body = channel.basic_get(declared.method.queue, auto_ack=True)
            return (method, properties, body) if method else None

        got = [wait_for(one, timeout=10) for _ in range(2)]
    finally:
        connection.close()
    assert [(m.routing_key, json.loads(b)["v"]) for m, _, b in got] == [
        (f"{thing.plug.id}.temperature", 20),
        (f"{thing.plug.id}.humidity", 30),
    ]
    assert got[0][1].headers["x-plugboard-delivery"] == got[1][1].headers["x-plugboard-delivery"]


@LOCAL
def test_the_console_shows_an_apps_connectors_with_their_status(
    api: APIClient, tenant: Tenant, thing: Enrolled, app: dict[str, Any], receiver: HttpReceiver
) -> None:
    from tests.plugboard.console.test_pages import signed_in

    made = _create(api, tenant, {"type": "http", "url": receiver.url}).json()
    _write(api, thing, {"temperature": 1, "humidity": 2})
    _drain()
    page = signed_in(tenant).get(f"/console/plugs/{app['id']}/")
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f'data-connector="{made["id"]}"') :].split("</tr>")[0]
    assert "http" in row and receiver.url in row and "<td>2</td>" in row
