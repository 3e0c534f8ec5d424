"""SPEC §11 under faults, against a real `manage.py serve` process: Redis stopped and started
during HTTP ingest, live delivery and command delivery (a private redis-server), PostgreSQL
connections killed server-side (`pg_terminate_backend` of the test database's connections), a
database that does not answer.
Every accepted write is stored exactly once; nothing answers 500; /healthz names the part that
is down within 2 seconds."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.db import connection
from paho.mqtt.enums import CallbackAPIVersion

from data.models import DataPoint
from tests.plugboard.conftest import RedisServer
from tests.support import ServerProcess, database_url, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

AT = 1_700_000_000_000


def _headers(enrolled: Any) -> dict[str, str]:
    return {"X-Plug-Id": enrolled.plug.id, "X-Plug-Auth": enrolled.auth}


class Ingest:
    """Writes one point after another (a distinct `at` each) and records every answer."""

    def __init__(self, server: ServerProcess, enrolled: Any, channel: str) -> None:
        self.server, self.headers, self.channel = server, _headers(enrolled), channel
        self.answers: list[tuple[int, int]] = []  # (at, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            at = AT + n
            status, _ = self.server.http(
                "PUT", f"/iot/data/{self.channel}", {"data": n, "at": at}, self.headers, timeout=30
            )
            self.answers.append((at, status))
            n += 1

    def __enter__(self) -> Ingest:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_for_more(self, count: int) -> None:
        target = len(self.answers) + count
        assert wait_for(lambda: len(self.answers) >= target, timeout=30), self.answers[-5:]

    def assert_stored_exactly_once(self, account_id: str, *, retry_allowed: int = 0) -> None:
        """Every 200 is stored, once; a refusal (at most `retry_allowed` of them, 503 only: a
        request whose connection was killed under it) stored nothing."""
        refused = [at for at, status in self.answers if status != 200]
        statuses = {status for _, status in self.answers}
        assert statuses <= {200, 503} and len(refused) <= retry_allowed, self.answers
        stored = list(
            DataPoint.objects.filter(account_id=account_id, channel=self.channel).values_list("at", flat=True)
        )
        assert sorted(stored) == sorted(at for at, status in self.answers if status == 200)


class Subscriber:
    """A paho client subscribed to a plug's live channel records."""

    def __init__(self, server: ServerProcess, enrolled: Any) -> None:
        self.messages: list[Any] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=enrolled.plug.id, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(enrolled.key.id, enrolled.auth)
        self.client.on_message = lambda c, u, m: self.messages.append(json.loads(m.payload))
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{enrolled.plug.id}/data/#", qos=0)
        self.client.connect("127.0.0.1", server.mqtt_port, keepalive=25)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _published_live(server: ServerProcess, enrolled: Any, subscriber: Subscriber, value: int) -> bool:
    status, _ = server.http("PUT", "/iot/data/live", {"data": value}, _headers(enrolled))
    assert status == 200
    return bool(wait_for(lambda: any(m.get("data") == value for m in subscriber.messages), timeout=3))


@pytest.fixture
def redis_backed_server(
    redis_server: RedisServer, start_server: Callable[..., ServerProcess]
) -> Iterator[ServerProcess]:
    yield start_server(REDIS_URL=redis_server.url)


def test_redis_stopped_during_ingest(
    redis_server: RedisServer, redis_backed_server: ServerProcess, thing: Any, tenant: Any
) -> None:
    server = redis_backed_server
    with Ingest(server, thing, "ingest") as ingest:
        ingest.wait_for_more(20)
        redis_server.stop()
        ingest.wait_for_more(30)  # writes go on: answered, and answered 200 (checked below)

        status, health, took = server.timed_http("GET", "/healthz")
        read, body = server.http("GET", "/iot/data/ingest?limit=5", headers=_headers(thing))
        by_master, _ = server.http("GET", "/iot/data/ingest?limit=1", headers=tenant_headers(tenant))

        redis_server.start()
        ingest.wait_for_more(20)
    assert status == 503 and took < 2.0
    assert health["database"] == "ok" and health["channel_layer"].startswith("error")
    assert read == 200 and len(body) == 5
    assert by_master == 200  # the master password's cached yes is gone: verified again
    ingest.assert_stored_exactly_once(tenant.account.id)
    assert wait_for(lambda: server.http("GET", "/healthz")[0] == 200, timeout=10)


def test_live_delivery_resumes_when_redis_returns(
    redis_server: RedisServer, redis_backed_server: ServerProcess, thing: Any
) -> None:
    server = redis_backed_server
    subscriber = Subscriber(server, thing)
    try:
        assert _published_live(server, thing, subscriber, -1), "no live delivery before the outage"
        redis_server.stop()
        status, _ = server.http("PUT", "/iot/data/live", {"data": 0}, _headers(thing))
        assert status == 200
        redis_server.start()  # empty: the reader's "listening" mark went with the old one

        assert wait_for(lambda: server.http("GET", "/healthz")[0] == 200, timeout=10)
        assert wait_for(lambda: _published_live(server, thing, subscriber, 7), timeout=15), (
            "live delivery did not resume after Redis came back"
        )
    finally:
        subscriber.stop()


def tenant_headers(tenant: Any) -> dict[str, str]:
    return {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}


def _commands(server: ServerProcess, tenant: Any, plug_id: str) -> dict[str, str]:
    """The device's commands as the account reads them over HTTP: {property: state}."""
    status, page = server.http("GET", f"/v3/devices/{plug_id}/commands", headers=tenant_headers(tenant))
    assert status == 200, page
    return {c["property"]: c["state"] for c in page["results"]}


def test_a_command_written_during_a_redis_outage_reaches_the_device_once_it_returns(
    redis_server: RedisServer, start_server: Callable[..., ServerProcess], tenant: Any, thing: Any
) -> None:
    """The device is connected to one process, the command written through another: the push
    between them (the Redis channel layer) is lost in the outage, and the command sweep of the
    device's process hands it over once Redis is back — on the same connection, no resubscribe."""
    from devices.models import Property
    from tests.commands.mqtt.clients import connect_device

    mqtt_side = start_server(REDIS_URL=redis_server.url, PLUGBOARD_COMMAND_SWEEP_SECONDS="1")
    http_side = start_server(REDIS_URL=redis_server.url)
    for name in ("setpoint", "mode"):
        Property.objects.create(plug=thing.plug, name=name, type="number", access="public")
    commands_filter = f"csipio/data/in/devices/{thing.plug.id}/properties/#"
    device = connect_device(mqtt_side, thing, clean=False)
    try:
        device.client.subscribe(commands_filter, qos=1)
        assert wait_for(lambda: device.subacks) == [[1]]

        redis_server.stop()
        status, receipt = http_side.http(
            "POST", f"/v3/data/devices/{thing.plug.id}", {"setpoint": 19}, tenant_headers(tenant)
        )
        assert (status, receipt) == (200, {"accepted": 1, "rejected": 0})
        # The push is lost; the command waits, pending, until the sweep of the device's process
        # (which reads the database, not Redis) hands it to the connection it already has.
        redis_server.start()
        assert wait_for(lambda: http_side.http("GET", "/healthz")[0] == 200, timeout=10)
        acked = lambda: _commands(http_side, tenant, thing.plug.id)["setpoint"] == "acked"  # noqa: E731
        assert wait_for(acked, timeout=15)
        assert device.connack == [0] and not device.disconnected.is_set()  # never reconnected

        # Live pushes work again between the processes: a second command, after the first.
        status, _ = http_side.http(
            "POST", f"/v3/data/devices/{thing.plug.id}", {"mode": 2}, tenant_headers(tenant)
        )
        assert status == 200
        assert wait_for(lambda: _commands(http_side, tenant, thing.plug.id)["mode"] == "acked", timeout=15)
        wait_for(lambda: len(device.messages) > 2, timeout=3)  # a duplicate would arrive by now
        received = [(m.topic.rsplit("/", 1)[-1], json.loads(m.payload), m.retain) for m in device.messages]
        assert received == [("setpoint", 19, False), ("mode", 2, False)]  # once each
    finally:
        device.stop()


SERVER_APPLICATION = "plugboard-fault-test"


def _terminate_server_connections() -> int:
    """Kill every connection of the server process to the test database, from this process's
    own connection (PostgreSQL restarting looks the same to the pool), and wait until they are
    gone: pg_terminate_backend only signals the backend."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [SERVER_APPLICATION],
        )
        pids = [pid for (pid,) in cursor.fetchall()]
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

        def gone() -> bool:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
            return cursor.fetchone()[0] == 0

        assert wait_for(gone, timeout=10), "terminated backends still there"
    return len(pids)


def _server_on_the_test_database(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    with connection.cursor():  # the test database's URL, with a name to find its connections by
        url = database_url()
    return start_server(DATABASE_URL=f"{url}?application_name={SERVER_APPLICATION}")


@pytest.mark.postgres
def test_pooled_connections_killed_by_the_server_are_not_handed_out(
    start_server: Callable[..., ServerProcess], thing: Any, tenant: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    server = _server_on_the_test_database(start_server)
    for _ in range(5):  # the pool holds idle connections now
        assert server.http("GET", "/iot/data/x", headers=_headers(thing))[0] == 200

    assert _terminate_server_connections() >= 1
    after = [server.http("GET", "/iot/data/x", headers=_headers(thing))[0] for _ in range(10)]
    status, health, took = server.timed_http("GET", "/healthz")

    assert after == [200] * 10
    assert status == 200 and health["database"] == "ok" and took < 2.0

    with Ingest(server, thing, "under-kill") as ingest:  # and while writes are going on
        ingest.wait_for_more(10)
        _terminate_server_connections()
        ingest.wait_for_more(10)
        _terminate_server_connections()
        ingest.wait_for_more(10)
    # A write whose connection is killed under it is refused (503, nothing stored); every
    # request after a kill gets a live connection.
    ingest.assert_stored_exactly_once(tenant.account.id, retry_allowed=2)


@pytest.fixture
def silent_database() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung or unreachable server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.postgres
def test_healthz_reports_a_database_that_does_not_answer_within_2_seconds(
    start_server: Callable[..., ServerProcess], silent_database: int
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    server = start_server(DATABASE_URL=f"postgres://postgres@127.0.0.1:{silent_database}/none")

    answers = [server.timed_http("GET", "/healthz") for _ in range(3)]

    for status, health, took in answers:
        assert status == 503 and took < 2.0
        assert health["database"].startswith("error") and health["channel_layer"] == "ok"


def test_a_committed_write_is_never_answered_with_an_error(
    thing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone listens, and the after-commit broadcast breaks (any reason): the point is stored,
    # so the answer is 200 — a 500 would make the client write it twice.
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from plugboard import live

    cache.set(live.listening_key(thing.plug.account_id), 1, 60)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("layer exploded")

    monkeypatch.setattr(live, "account_group", broken)
    client = APIClient()

    response = client.put(
        "/iot/data/after-commit",
        json.dumps({"data": 1, "at": AT}),
        content_type="application/json",
        HTTP_X_PLUG_ID=thing.plug.id,
        HTTP_X_PLUG_AUTH=thing.auth,
    )

    assert response.status_code == 200
    assert DataPoint.objects.filter(channel="after-commit").count() == 1


@pytest.fixture
def unreachable_redis_cache(settings: Any) -> Iterator[None]:
    """The cache pointed at a Redis that is not there (a free port nobody listens on)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "plugboard.cache.DegradingRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield


def test_without_redis_the_cache_is_an_empty_one_and_requests_answer(
    unreachable_redis_cache: None, thing: Any, tenant: Any
) -> None:
    from django.core.cache import cache
    from rest_framework.test import APIClient

    assert cache.get("k", "default") == "default" and cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is True
    with pytest.raises(ValueError):
        cache.incr("k")
    client = APIClient()
    by_plug = client.get("/iot/data/x", HTTP_X_PLUG_ID=thing.plug.id, HTTP_X_PLUG_AUTH=thing.auth)
    by_master = client.get("/iot/data/x", HTTP_X_PLUG_EMAIL=tenant.email, HTTP_X_PLUG_MASTER=tenant.password)
    wrong = client.get("/iot/data/x", HTTP_X_PLUG_ID=thing.plug.id, HTTP_X_PLUG_AUTH="0" * 32)
    assert (by_plug.status_code, by_master.status_code, wrong.status_code) == (200, 200, 401)
