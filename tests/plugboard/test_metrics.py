"""`/metrics` (SPEC §14, issue 28 item 3): the Prometheus text format read back with
prometheus-client's own parser; counters grow by exactly what was written (both dialects, HTTP
and a real MQTT client over TCP and WebSocket); who may read it; several processes, one answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from django.urls import resolve
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from commands.models import Command
from data.expiry import expiry_purge
from devices.models import Property
from devices.services.plugs import Enrolled
from outbound import outbox
from outbound.models import OutboxMessage, OutboxStream
from outbound.outbox import deliverer_register, outbox_add, outbox_deliver, outbox_replay
from plugboard.timestamps import now_ms
from tests.commands.mqtt.clients import Device
from tests.conftest import Tenant, plug_headers
from tests.plugboard.test_serve import _established_on
from tests.support import ROOT, ServerProcess, database_url, free_port, serve, wait_for

TOKEN = "s3cret-scrape-token"
BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
OUTBOUND_KIND = "metrics-test"
# Deadlines for a machine under load: polled, so they cost nothing when things are quick.
DEADLINE = 60


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(api: APIClient, **headers: str) -> Samples:
    response = api.get("/metrics", **(headers or BEARER))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


# --- who may read it -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_reads_them_when_nothing_is_configured(api: APIClient) -> None:
    unknown = api.get("/no-such-page")
    for attempt in (api.get("/metrics"), api.get("/metrics", **BEARER), api.post("/metrics", **BEARER)):
        # The very answer of an unknown path: nothing tells a scanner the endpoint exists.
        assert (attempt.status_code, attempt.json()) == (404, unknown.json())


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_the_bearer_token_reads_them_and_nothing_else_does(api: APIClient) -> None:
    unknown = api.get("/no-such-page").json()
    refused = [
        api.get("/metrics"),
        api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"),
        api.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}"),
        api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x"),
        api.post("/metrics"),
    ]
    assert [(r.status_code, r.json()) for r in refused] == [(404, unknown)] * len(refused)
    samples = scrape(api)
    assert ("plugboard_commands", frozenset({("state", "pending")})) in samples
    assert api.post("/metrics", **BEARER).status_code == 405  # the reader learns the method


@pytest.mark.django_db
def test_a_listed_network_reads_them(api: APIClient) -> None:
    with override_settings(PLUGBOARD_METRICS_NETWORKS=["10.0.0.0/8", "127.0.0.0/8"]):
        assert api.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
        assert api.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert api.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
        assert api.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 404
        # A client's own X-Forwarded-For is not taken from an untrusted peer...
        forged = api.get("/metrics", REMOTE_ADDR="192.168.1.5", HTTP_X_FORWARDED_FOR="10.1.2.3")
        assert forged.status_code == 404
    # ...but from a trusted load balancer it names the client.
    with override_settings(
        PLUGBOARD_METRICS_NETWORKS=["10.0.0.0/8"], PLUGBOARD_TRUSTED_PROXIES=["127.0.0.1"]
    ):
        assert api.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
        assert api.get("/metrics", HTTP_X_FORWARDED_FOR="192.168.1.5").status_code == 404
        assert api.get("/metrics").status_code == 404  # the balancer itself is not listed


# --- what they count -----------------------------------------------------------------------------


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[Callable[[], Any]], Any]:
    """Run a request and the after-commit work it registered (the test's transaction never
    commits): the points are counted once their write commits."""

    def run(request: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return request()

    return run


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_http_points_counted_by_dialect(api: APIClient, thing: Enrolled, committed: Any) -> None:
    before = scrape(api)
    headers = plug_headers(thing)
    records = [{"data": 1}, {"data": 2}, {"data": 3, "at": "not a time"}]
    r = committed(lambda: api.put("/iot/data/home/temp", records, format="json", **headers))
    assert r.status_code in (200, 207), r.content
    feed = {"dps": [{"t": now_ms(), "v": 1}, {"t": now_ms() - 1, "v": 2}, {"t": "garbage", "v": 3}]}
    path = f"/v3/data/devices/{thing.plug.id}/properties/temperature"
    r = committed(lambda: api.post(path, feed, format="json", **headers))
    assert (r.json()["accepted"], r.json()["rejected"]) == (2, 1)
    r = committed(
        lambda: api.post(f"/v3/data/devices/{thing.plug.id}", {"a": 1, "b": 2}, format="json", **headers)
    )
    assert r.json() == {"accepted": 2, "rejected": 0}
    after = scrape(api)

    def grew(name: str, dialect: str) -> float:
        labels = {"dialect": dialect, "transport": "http"}
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("plugboard_points_accepted_total", "channel") == 2
    assert grew("plugboard_points_rejected_total", "channel") == 1
    assert grew("plugboard_points_accepted_total", "property") == 4
    assert grew("plugboard_points_rejected_total", "property") == 1


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_console_commands_counted_as_console_property_points(
    api: APIClient, tenant: Tenant, thing: Enrolled, committed: Any
) -> None:
    prop = Property.objects.create(plug=thing.plug, name="setPoint", access=Property.Access.PUBLIC)
    console = Client()
    signed = console.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert signed.status_code == 302
    labels = {"dialect": "property", "transport": "console"}
    before = scrape(api)
    sent = committed(
        lambda: console.post(f"/console/plugs/{thing.plug.id}/command/", {"property": prop.id, "value": "21"})
    )
    assert sent.status_code == 302
    after = scrape(api)
    name = "plugboard_points_accepted_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_http_latency_by_route_pattern_method_and_status_class(api: APIClient, thing: Enrolled) -> None:
    path = f"/v3/data/devices/{thing.plug.id}/properties/temperature"
    route = resolve(path).route
    labels = {"route": route, "method": "GET", "status": "2xx"}
    api.post(path, {"dps": [{"t": now_ms(), "v": 1}]}, format="json", **plug_headers(thing))
    before = scrape(api)
    for _ in range(3):
        assert api.get(path, **plug_headers(thing)).status_code == 200
    api.get(f"/nothing/here/{thing.plug.id}")
    after = scrape(api)
    count = "plugboard_http_request_duration_seconds_count"
    assert value(after, count, **labels) - value(before, count, **labels) == 3
    assert value(after, "plugboard_http_request_duration_seconds_sum", **labels) > 0
    unmatched = {"route": "unmatched", "method": "GET", "status": "4xx"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 1
    # The pattern, never the path: no label holds the plug's id.
    assert not [key for key in after if any(thing.plug.id in v for _, v in key[1])]


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_commands_by_state(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    Property.objects.create(plug=thing.plug, name="setPoint", access=Property.Access.PUBLIC)
    for n in range(3):
        body = {"setPoint": n}
        api.post(f"/v3/data/devices/{thing.plug.id}", body, format="json", **tenant.master_headers())
    Command.objects.filter(pk=Command.objects.first().pk).update(state=Command.State.ACKED)  # type: ignore[union-attr]
    samples = scrape(api)
    assert {s: value(samples, "plugboard_commands", state=s) for s in Command.State} == {
        "pending": 2,
        "sent": 0,
        "acked": 1,
        "expired": 0,
    }


@pytest.mark.django_db
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_purge_counts(api: APIClient, thing: Enrolled, committed: Any) -> None:
    records = [{"data": n, "at": 1_700_000_000_000 + n, "ttl": 1} for n in range(4)]
    committed(lambda: api.put("/iot/data/short", records, format="json", **plug_headers(thing)))
    before = scrape(api)
    counts = expiry_purge(now=now_ms() + 5_000)
    after = scrape(api)
    assert counts["points"] == 4
    purged = "plugboard_purged_rows_total"
    assert value(after, purged, what="points") - value(before, purged, what="points") == 4
    runs = "plugboard_purge_runs_total"
    assert value(after, runs, outcome="ok") - value(before, runs, outcome="ok") == 1
    assert value(after, "plugboard_purge_last_success_timestamp_seconds") >= now_ms() / 1000 - 60


@pytest.fixture
def receiver() -> Iterator[dict[str, bool]]:
    """An outbox deliverer of its own kind, failing while `state["down"]`."""
    state = {"down": True}

    def deliver(target: str, messages: Any) -> None:
        if state["down"]:
            raise ConnectionError("receiver down")

    saved = dict(outbox._deliverers)
    outbox._deliverers.clear()  # only this test's kind is claimed
    deliverer_register(OUTBOUND_KIND, deliver, batch=10)
    yield state
    outbox._deliverers.clear()
    outbox._deliverers.update(saved)


@pytest.mark.django_db(transaction=True)
@override_settings(PLUGBOARD_METRICS_TOKEN=TOKEN)
def test_outbound_lag_failures_and_dead_letters(api: APIClient, receiver: dict[str, bool]) -> None:
    def grew(samples: Samples, name: str) -> float:
        return value(samples, name, kind=OUTBOUND_KIND) - value(start, name, kind=OUTBOUND_KIND)

    start = scrape(api)
    assert value(start, "plugboard_outbound_pending") == 0
    assert value(start, "plugboard_outbound_oldest_pending_age_seconds") == 0
    with transaction.atomic():
        payloads = [{"n": n} for n in range(3)]
        outbox_add(account_id="acc", kind=OUTBOUND_KIND, target="t1", key="k", payloads=payloads)
    OutboxMessage.objects.update(created_at=now_ms() - 90_000)  # queued a minute and a half ago
    outbox_deliver(seconds=5)  # the receiver is down: one failed attempt, retried later
    failing = scrape(api)
    assert grew(failing, "plugboard_outbound_delivery_failures_total") == 1
    assert value(failing, "plugboard_outbound_pending") == 3
    assert 90 <= value(failing, "plugboard_outbound_oldest_pending_age_seconds") < 90 + DEADLINE
    # Failing past their retention, they become dead letters.
    OutboxStream.objects.update(due_at=0)
    OutboxMessage.objects.update(expires_at=0)
    outbox_deliver(seconds=5)
    dead = scrape(api)
    assert grew(dead, "plugboard_outbound_delivery_failures_total") == 2
    assert grew(dead, "plugboard_outbound_dead_lettered_total") == 3
    assert (value(dead, "plugboard_outbound_pending"), value(dead, "plugboard_outbound_dead_letters")) == (
        0,
        3,
    )
    assert value(dead, "plugboard_outbound_oldest_pending_age_seconds") == 0
    # Replayed once the receiver is back: delivered, nothing left.
    receiver["down"] = False
    assert outbox_replay(kind=OUTBOUND_KIND, target="t1") == 3
    outbox_deliver(seconds=5)
    done = scrape(api)
    assert grew(done, "plugboard_outbound_delivered_total") == 3
    assert (value(done, "plugboard_outbound_pending"), value(done, "plugboard_outbound_dead_letters")) == (
        0,
        0,
    )


# --- real servers, a real MQTT client ------------------------------------------------------------


def connect(server: ServerProcess, client_id: str, username: str, password: str, **kw: Any) -> Device:
    device = Device(server, client_id, username, password, **kw)
    assert wait_for(lambda: device.connack, timeout=DEADLINE) == [0]
    return device


def connect_device(server: ServerProcess, enrolled: Enrolled, **kw: Any) -> Device:
    return connect(server, enrolled.plug.id, enrolled.key.id, enrolled.auth, **kw)


def http_scrape(server: ServerProcess) -> Samples:
    import urllib.request

    request = urllib.request.Request(server.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:  # noqa: S310 - loopback
        return parse(response.read().decode())


@pytest.fixture
def servers(django_db_blocker: Any, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        name = f"server{len(started)}"
        server = serve(
            django_db_blocker,
            tmp_path / name,
            tmp_path / f"{name}.log",
            REDIS_URL="",
            PLUGBOARD_METRICS_TOKEN=TOKEN,
            **env,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_mqtt_connections_messages_and_points_by_transport(
    servers: Callable[..., ServerProcess], tenant: Tenant, thing: Enrolled
) -> None:
    server = servers()
    other = tenant.plug("second")
    tcp = connect_device(server, thing)
    ws = connect_device(server, other, transport="websockets")
    key_id, secret = tenant.user_key()  # the account's: it reads every plug's records
    watcher = connect(server, "watcher", key_id, secret, transport="websockets")
    try:
        watcher.client.subscribe(f"{thing.plug.id}/data/#", qos=1)
        assert wait_for(lambda: watcher.subacks)
        sent = []
        for n in range(20):  # channel dialect over TCP, seen by the watcher
            sent.append(tcp.client.publish(f"{thing.plug.id}/data/level", f'{{"data": {n}}}', qos=1))
        for n in range(7):  # property dialect over WebSocket
            topic = f"csipio/data/out/devices/{other.plug.id}/properties/temperature"
            sent.append(ws.client.publish(topic, str(n), qos=1))
        ws.client.publish(f"csipio/data/out/devices/{other.plug.id}/properties/temperature", "{bad", qos=1)
        assert wait_for(lambda: all(info.is_published() for info in sent), timeout=DEADLINE)
        assert wait_for(lambda: len(watcher.messages) == 20, timeout=DEADLINE)

        def settled() -> Samples | None:
            samples = http_scrape(server)
            return (
                samples
                if value(samples, "plugboard_mqtt_messages_received_total", transport="mqtt-ws") == 8
                else None
            )

        samples = wait_for(settled, timeout=DEADLINE)
        assert samples, http_scrape(server)
        assert value(samples, "plugboard_mqtt_connections", transport="mqtt-tcp") == 1
        assert value(samples, "plugboard_mqtt_connections", transport="mqtt-ws") == 2
        assert value(samples, "plugboard_mqtt_messages_received_total", transport="mqtt-tcp") == 20
        assert value(samples, "plugboard_mqtt_messages_sent_total", transport="mqtt-ws") == 20
        accepted = "plugboard_points_accepted_total"
        assert value(samples, accepted, dialect="channel", transport="mqtt-tcp") == 20
        assert value(samples, accepted, dialect="property", transport="mqtt-ws") == 7
        rejected = "plugboard_points_rejected_total"
        assert value(samples, rejected, dialect="property", transport="mqtt-ws") == 1
    finally:
        for device in (tcp, ws, watcher):
            device.stop()

    def gone() -> bool:
        samples = http_scrape(server)
        return all(
            value(samples, "plugboard_mqtt_connections", transport=t) == 0 for t in ("mqtt-tcp", "mqtt-ws")
        )

    assert wait_for(gone, timeout=DEADLINE)


@pytest.mark.django_db(transaction=True)
def test_two_processes_sharing_the_directory_give_one_answer(
    servers: Callable[..., ServerProcess], tmp_path: Path, thing: Enrolled, tenant: Tenant
) -> None:
    directory = str(tmp_path / "metrics")
    first, second = servers(PROMETHEUS_MULTIPROC_DIR=directory), servers(PROMETHEUS_MULTIPROC_DIR=directory)
    for server, count in ((first, 3), (second, 5)):
        records = [{"data": n} for n in range(count)]
        status, _ = server.http(
            "PUT",
            "/iot/data/split",
            records,
            headers={"X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth},
            timeout=DEADLINE,
        )
        assert status == 200
    devices = [connect_device(first, thing), connect_device(second, tenant.plug("second"))]
    try:
        for server in (first, second):  # whichever process answers, the sum of both
            samples = http_scrape(server)
            assert value(samples, "plugboard_points_accepted_total", dialect="channel", transport="http") == 8
            assert value(samples, "plugboard_mqtt_connections", transport="mqtt-tcp") == 2
        # A process that ends takes its connections off the gauge; its counts stay.
        second.process.send_signal(signal.SIGTERM)
        second.process.wait(timeout=DEADLINE)

        def second_gone() -> Samples | None:
            samples = http_scrape(first)
            return (
                samples if value(samples, "plugboard_mqtt_connections", transport="mqtt-tcp") == 1 else None
            )

        samples = wait_for(second_gone, timeout=DEADLINE)
        assert samples, http_scrape(first)
        assert value(samples, "plugboard_points_accepted_total", dialect="channel", transport="http") == 8
    finally:
        for device in devices:
            device.stop()
    assert any(name.startswith("counter_") for name in os.listdir(directory))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the embedded default runs tasks in-process")
def test_a_celery_workers_purge_counts_reach_the_servers_metrics(
    servers: Callable[..., ServerProcess], tmp_path: Path, thing: Enrolled
) -> None:
    from data.tasks import purge_expired

    directory = tmp_path / "metrics"
    server = servers(PROMETHEUS_MULTIPROC_DIR=str(directory))
    records = [{"data": n, "at": 1_700_000_000_000 + n, "ttl": 1} for n in range(4)]
    headers = {"X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth}
    assert server.http("PUT", "/iot/data/short", records, headers=headers, timeout=DEADLINE)[0] == 200
    stale = directory / f"counter_{2**22 + 5}.db"  # a pid above Linux's highest: no such process
    stale.write_bytes(b"")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    command = [sys.executable, "-m", "celery", "-A", "plugboard.celery", "worker", "--pool=prefork"]
    command += ["--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"]
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        assert wait_for(lambda: not stale.exists(), timeout=DEADLINE), "the worker kept a dead process's file"
        purge_expired.delay()

        def purged() -> Samples | None:
            samples = http_scrape(server)
            return samples if value(samples, "plugboard_purged_rows_total", what="points") == 4 else None

        samples = wait_for(purged, timeout=DEADLINE)
        assert samples, log.read_text()[-2000:]
        assert value(samples, "plugboard_purge_runs_total", outcome="ok") >= 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=DEADLINE)
    # The worker's counts outlive it (counters never go down while the platform runs).
    assert value(http_scrape(server), "plugboard_purged_rows_total", what="points") == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="serve --workers needs REDIS_URL")
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")
def test_a_killed_worker_leaves_the_gauge_and_keeps_its_counts(tmp_path: Path, tenant: Tenant) -> None:
    """`serve --workers 2` (no PROMETHEUS_MULTIPROC_DIR: it uses var/metrics): a worker killed
    outright has its connections taken off the gauge by the supervisor; its counts stay."""
    var = tmp_path / "var"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PLUGBOARD_VAR_DIR": str(var),
        "PLUGBOARD_METRICS_TOKEN": TOKEN,
    }
    port, mqtt_port = free_port(), free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--mqtt-port", str(mqtt_port)]
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        supervisor = subprocess.Popen(  # noqa: S603
            [*command, "--workers", "2", "--no-expiry"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(port, mqtt_port, supervisor, log)
    plugs = [tenant.plug(f"p{n}") for n in range(8)]
    devices: list[Device] = []
    try:
        children: list[int] = wait_for(lambda: worker_pids(supervisor.pid), timeout=DEADLINE)
        assert children, log.read_text()
        assert wait_for(lambda: accepts_scrape(server), timeout=DEADLINE), log.read_text()
        devices = [connect_device(server, plug) for plug in plugs]
        for device, plug in zip(devices, plugs, strict=True):
            device.client.publish(f"{plug.plug.id}/data/x", '{"data": 1}', qos=1).wait_for_publish(DEADLINE)

        def connections() -> float:
            return value(http_scrape(server), "plugboard_mqtt_connections", transport="mqtt-tcp")

        assert wait_for(lambda: connections() == 8, timeout=DEADLINE)
        # The worker holding connections (the kernel spreads them; perhaps all on one).
        victim = max(children, key=lambda pid: _established_on(pid, mqtt_port))
        assert (var / "metrics" / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        assert wait_for(
            lambda: not (var / "metrics" / f"gauge_livesum_{victim}.db").exists(), timeout=DEADLINE
        )
        # Its clients reconnect (paho does) to the survivor: the gauge counts each once.
        assert wait_for(
            lambda: connections() == 8 and all(len(d.connack) >= 1 for d in devices), timeout=DEADLINE
        )
        samples = http_scrape(server)
        assert value(samples, "plugboard_mqtt_messages_received_total", transport="mqtt-tcp") >= 8
        assert value(samples, "plugboard_points_accepted_total", dialect="channel", transport="mqtt-tcp") >= 8
    finally:
        for device in devices:
            device.stop()
        supervisor.terminate()
        supervisor.wait(timeout=DEADLINE)


def worker_pids(supervisor: int) -> list[int] | None:
    """The two worker processes of a `serve --workers 2`, once both run."""
    pids = [int(p) for p in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
    return pids if len(pids) == 2 else None


def accepts_scrape(server: ServerProcess) -> bool:
    try:
        http_scrape(server)
    except OSError:
        return False
    return True
