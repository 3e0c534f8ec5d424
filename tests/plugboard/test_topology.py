"""The load-balanced topology on one machine (README, production topology): two `manage.py serve`
processes on one PostgreSQL and one Redis, behind a real HAProxy running the repository's
deploy/haproxy.cfg unchanged (its addresses come from the environment: free loopback ports).

A device (paho, clean session 0) over TCP and over WebSocket through the balancer: a command
written through either process reaches it; it reconnects onto the other process and finds its
session and its pending commands there; a newer connection on the first process takes the
session over from the second. Each command arrives once and ends acked. HTTP batch ingest
through the balancer lands on both processes, every point stored (the short variant of
bench/topology.py); MQTT and HTTPS over TLS terminate at the balancer.

PostgreSQL and Redis only (the processes meet through Redis). Without haproxy the tests skip,
except under CI=true, where they fail."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings
from django.db import connection
from paho.mqtt.enums import CallbackAPIVersion

from data.models import DataPoint
from devices.models import Plug, Property
from devices.services.plugs import Enrolled
from plugboard.services import key_create
from tests.commands.mqtt.clients import Device, connect_device
from tests.conftest import Tenant, basic
from tests.support import ServerProcess, self_signed, serve, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import topology as bench_topology  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@dataclass
class Cluster:
    nodes: dict[str, ServerProcess]  # node1, node2: each process's own ports, bypassing the balancer
    balancer: bench_topology.Balancer
    front: ServerProcess  # the balancer's ports, as devices and clients see them
    ca: Path  # the certificate the balancer's TLS listeners present

    def node_of(self, backend: str) -> str:
        """The node the one open connection of `backend` goes to."""
        open_now = wait_for(lambda: [n for n, c in self.balancer.sessions(backend).items() if c], timeout=10)
        assert len(open_now) == 1, self.balancer.sessions(backend)
        return open_now[0]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (HAProxy's PEM of certificate and key, the CA)."""
    cert_pem, key_pem = self_signed("plugboard balancer test")
    pem, ca = directory / "balancer.pem", directory / "ca.pem"
    pem.write_bytes(cert_pem + key_pem)
    ca.write_bytes(cert_pem)
    return pem, ca


@pytest.fixture(scope="module")
def cluster(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with django_db_blocker.unblock():
        vendor = connection.vendor
    if vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("the processes meet through Redis, on PostgreSQL")
    if shutil.which("haproxy") is None:
        reason = "haproxy is not installed (apt-get install -y haproxy)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the topology test: {reason}")
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("topology")
    nodes: dict[str, ServerProcess] = {}
    try:
        for name in bench_topology.NODES:
            # ALLOWED_HOSTS as in production: the balancer's health checks must name an allowed host.
            hosts = f"127.0.0.1,{bench_topology.PUBLIC_HOST}"
            var, log = directory / f"{name}-var", directory / f"{name}.log"
            nodes[name] = serve(
                django_db_blocker, var, log, ALLOWED_HOSTS=hosts, PLUGBOARD_TRUSTED_PROXIES="127.0.0.1"
            )
        pem, ca = _certificate(directory)
        ports = [(node.http_port, node.mqtt_port) for node in nodes.values()]
        with bench_topology.balancer_of(ports, directory, tls_pem=pem) as balancer:
            assert balancer.process is not None
            front = ServerProcess(balancer.http_port, balancer.mqtt_port, balancer.process, balancer.log_path)
            yield Cluster(nodes, balancer, front, ca)
    finally:
        for node in nodes.values():
            node.stop()


@pytest.fixture(autouse=True)
def _all_ready(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every node ready in the balancer before a test; after it, the nodes have recorded their
    devices' disconnects (a table flush racing the last writes deadlocks on PostgreSQL)."""
    yield
    if "cluster" in request.fixturenames:
        balancer = request.getfixturevalue("cluster").balancer
        for node in bench_topology.NODES:
            balancer.set_state(node, "ready")
        wait_for(lambda: not Plug.objects.filter(connected=True).exists(), timeout=10)


def _received(*devices: Device) -> list[tuple[str, Any]]:
    return [(m.topic.rsplit("/", 1)[-1], json.loads(m.payload)) for d in devices for m in d.messages]


def _device(cluster: Cluster, thing: Enrolled, transport: str) -> Device:
    device = connect_device(cluster.front, thing, clean=False, transport=transport)
    assert device.connack == [0]
    # No automatic reconnect during the test: a taken-over device would take the session back.
    device.client.reconnect_delay_set(min_delay=120, max_delay=120)
    return device


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_a_device_keeps_its_session_and_commands_on_either_process_behind_the_balancer(
    cluster: Cluster, tenant: Tenant, thing: Enrolled, transport: str
) -> None:
    backend = "mqtt" if transport == "tcp" else "mqtt_ws"
    plug_id = thing.plug.id
    for n in range(1, 9):
        Property.objects.create(plug=thing.plug, name=f"p{n}", type="number", access="public")
    key, secret = key_create(account=tenant.account, kind="apiclient", scope=["device:write-data"])
    writer = {"Authorization": basic(key.id, secret)["HTTP_AUTHORIZATION"]}

    def command(node: str, prop: str, value: int) -> None:
        """Write the property through one process's own port (the writer's side of the cluster)."""
        path = f"/v3/data/devices/{plug_id}/properties/{prop}"
        status, receipt = cluster.nodes[node].http("POST", path, {"dps": [{"v": value}]}, writer)
        assert (status, receipt) == (200, {"accepted": 1, "rejected": 0})

    def states() -> dict[str, str]:
        master = {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}
        status, page = cluster.front.http("GET", f"/v3/devices/{plug_id}/commands", headers=master)
        assert status == 200, page
        return {c["property"]: c["state"] for c in page["results"]}

    def acked(*props: str) -> bool:
        # Before a device goes, what it got is acked: a QoS 1 command still unacked when its
        # connection ends is sent again on the next one (at least once), which is not this test's.
        return wait_for(lambda: {states().get(p) for p in props} == {"acked"})

    first = _device(cluster, thing, transport)
    first.client.subscribe(f"csipio/data/in/devices/{plug_id}/properties/#", qos=1)
    assert wait_for(lambda: first.subacks) == [[1]]
    here = cluster.node_of(backend)
    there = next(n for n in bench_topology.NODES if n != here)

    # Online: through the device's process and through the other one (the Redis layer).
    command(here, "p1", 1)
    command(there, "p2", 2)
    assert wait_for(lambda: len(first.messages) == 2)
    assert acked("p1", "p2")

    # Offline: commands through both processes wait, pending, in the persistent session.
    first.stop()
    assert wait_for(lambda: not Plug.objects.get(pk=plug_id).connected)
    command(here, "p3", 3)
    command(there, "p4", 4)
    assert {p: s for p, s in states().items() if p in ("p3", "p4")} == {"p3": "pending", "p4": "pending"}

    # It reconnects through the balancer and lands on the other process (this one drains): the
    # session is there, subscription included, and so are its pending commands.
    cluster.balancer.set_state(here, "drain", [backend])
    second = _device(cluster, thing, transport)
    assert cluster.node_of(backend) == there
    assert second.session_present == [True]
    assert wait_for(lambda: len(second.messages) == 2)
    cluster.balancer.set_state(here, "ready", [backend])
    command(here, "p5", 5)
    command(there, "p6", 6)
    assert wait_for(lambda: len(second.messages) == 4)
    assert acked("p3", "p4", "p5", "p6")

    # A newer connection with the same client id on the first process (the old one still open,
    # as behind a NAT that lost it) takes the session over across processes.
    cluster.balancer.set_state(there, "drain", [backend])
    third = _device(cluster, thing, transport)
    assert third.session_present == [True]
    assert wait_for(lambda: second.disconnected.is_set()), "the older connection was not closed"
    second.stop()
    assert cluster.node_of(backend) == here
    command(there, "p7", 7)
    command(here, "p8", 8)
    try:
        assert wait_for(lambda: len(third.messages) == 2)
        wait_for(lambda: len(_received(first, second, third)) > 8, timeout=2)  # a duplicate would be here
        assert _received(first, second, third) == [(f"p{n}", n) for n in range(1, 9)]
        assert acked(*(f"p{n}" for n in range(1, 9))), states()
        assert len(states()) == 8
    finally:
        third.stop()


def test_http_batch_ingest_through_the_balancer_lands_on_both_processes(
    cluster: Cluster, thing: Enrolled
) -> None:
    before = cluster.balancer.served("http")
    plug = {"id": thing.plug.id, "auth": thing.auth}
    base_at = int(time.time() * 1000) - 86_400_000
    _seconds, problems = bench_topology.ingest(
        cluster.front.http_port, [plug], 20_000, batch=1_000, clients=4, base_at=base_at
    )
    assert problems == []
    assert DataPoint.objects.filter(of=thing.plug.id).count() == 20_000
    after = cluster.balancer.served("http")
    spread = {node: after[node] - before[node] for node in bench_topology.NODES}
    assert sum(spread.values()) == 20 and all(spread.values()), spread


def test_mqtt_and_https_over_tls_terminate_at_the_balancer(cluster: Cluster, thing: Enrolled) -> None:
    context = ssl.create_default_context(cafile=str(cluster.ca))
    with urllib.request.urlopen(  # noqa: S310 - loopback only
        f"https://127.0.0.1:{cluster.balancer.https_port}/healthz", context=context, timeout=10
    ) as answer:
        assert (answer.status, json.loads(answer.read())["status"]) == (200, "ok")

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing.plug.id, protocol=mqtt.MQTTv311)
    client.username_pw_set(thing.key.id, thing.auth)
    client.tls_set_context(context)
    client.connect("127.0.0.1", cluster.balancer.mqtts_port, keepalive=25)
    client.loop_start()
    try:
        info = client.publish(f"{thing.plug.id}/data/tls", json.dumps({"data": 21}), qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
        stored = DataPoint.objects.filter(of=thing.plug.id, channel="tls")
        assert wait_for(lambda: list(stored.values_list("data", flat=True))) == [21]
    finally:
        client.disconnect()
        client.loop_stop()
