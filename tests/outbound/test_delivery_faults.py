"""Data connectors end to end through a real `manage.py serve`: with Celery workers on PostgreSQL
while Redis goes down and the receiver is down for a while, and in-process on the embedded
default (SQLite, no Redis). Counted: points accepted == points delivered, in order per device."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from outbound.connectors import KIND
from outbound.outbox import outbox_status
from tests.conftest import Enrolled, Tenant
from tests.outbound.receivers import HttpReceiver
from tests.plugboard.conftest import RedisServer
from tests.support import ROOT, ServerProcess, database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ALLOW = {"PLUGBOARD_OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rec = HttpReceiver()
    yield rec
    rec.stop()


def _master(tenant: Tenant) -> dict[str, str]:
    token = base64.b64encode(f"{tenant.email}:{tenant.password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _plug(enrolled: Enrolled) -> dict[str, str]:
    return {"X-Plug-Id": enrolled.plug.id, "X-Plug-Auth": enrolled.auth}


def _connect(server: ServerProcess, tenant: Tenant, things: list[Enrolled], url: str) -> str:
    status, _ = server.http("POST", "/v3/apps", {"name": "hvac"}, _master(tenant))
    assert status == 201
    for thing in things:
        status, _ = server.http("PUT", f"/v3/devices/{thing.plug.id}", {"apps": ["hvac"]}, _master(tenant))
        assert status == 200
    status, made = server.http(
        "POST", "/v3/apps/hvac/dataconnectors", {"type": "http", "url": url}, _master(tenant)
    )
    assert status == 201, made
    return str(made["id"])


def _write(server: ServerProcess, thing: Enrolled, n: int) -> None:
    status, receipt = server.http("POST", f"/v3/data/devices/{thing.plug.id}", {"counter": n}, _plug(thing))
    assert status == 200 and receipt == {"accepted": 1, "rejected": 0}, receipt


def _delivered(receiver: HttpReceiver) -> dict[str, list[int]]:
    per_device: dict[str, list[int]] = {}
    for request in list(receiver.requests):
        for point in request.json()["points"]:
            per_device.setdefault(point["device"], []).append(point["v"])
    return per_device


class _Supervised:
    """A Celery worker kept running the way a supervisor (systemd's `Restart=always`) keeps it:
    Celery's Redis transport can exit with "Unrecoverable error" when the broker drops while it
    is closing its channel (kombu's race in `restore_unacked`); the outbox keeps what it was
    delivering, so a restarted worker carries on. `restarts` counts how often that happened."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path, self.redis_url, self.restarts = tmp_path, redis_url, 0
        self.process = _worker(tmp_path, redis_url)

    def keep(self) -> None:
        if self.process.poll() is not None:
            self.restarts += 1
            self.process = _worker(self.tmp_path, self.redis_url)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _worker(tmp_path: Path, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **ALLOW,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "PLUGBOARD_VAR_DIR": str(tmp_path / "worker-var"),
        "PLUGBOARD_OUTBOUND_SWEEP_SECONDS": "1",
        "PLUGBOARD_OUTBOUND_RETRY_SECONDS": "0.2,0.5,1",
    }
    command = [sys.executable, "-m", "celery", "-A", "plugboard.celery", "worker", "-B", "--pool=solo"]
    command += ["--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    log = (tmp_path / "worker.log").open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


# A server, a worker with beat and a private Redis, each started under a shared machine's load,
# and three outages in a row: more than the suite's default 120 s on a busy machine.
@pytest.mark.timeout(400)
@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="Celery workers need Redis")
def test_redis_down_and_receiver_down_nothing_lost(
    tmp_path: Path,
    tenant: Tenant,
    redis_server: RedisServer,
    outbound_server: Callable[..., ServerProcess],
    receiver: HttpReceiver,
) -> None:
    things = [tenant.plug(f"meter-{i}") for i in range(3)]
    server = outbound_server(REDIS_URL=redis_server.url, **ALLOW)
    connector = _connect(server, tenant, things, receiver.url)
    worker = _Supervised(tmp_path, redis_server.url)
    sent = 0
    try:
        for n in range(20):
            for thing in things:
                _write(server, thing, n)
                sent += 1
        assert wait_for(lambda: sum(map(len, _delivered(receiver).values())) == sent, timeout=60), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        # Redis down: writes are still answered, and their points wait in the outbox.
        redis_server.stop()
        for n in range(20, 40):
            for thing in things:
                _write(server, thing, n)
                sent += 1
        assert outbox_status(kind=KIND, targets=[connector])[connector].pending == 60
        # The receiver down too; then Redis back: retries fail until the receiver returns.
        receiver.down = True
        redis_server.start()
        assert wait_for(
            lambda: worker.keep() or outbox_status(kind=KIND, targets=[connector])[connector].failures > 0,
            timeout=60,
        )
        for n in range(40, 50):
            for thing in things:
                _write(server, thing, n)
                sent += 1
        receiver.down = False
        assert wait_for(
            lambda: worker.keep() or sum(map(len, _delivered(receiver).values())) == sent, timeout=90
        ), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.stop()
    assert _delivered(receiver) == {thing.plug.id: list(range(50)) for thing in things}
    status = outbox_status(kind=KIND, targets=[connector])[connector]
    assert (status.delivered, status.pending, status.dead) == (sent, 0, 0)
    retried = {r.headers["X-Plugboard-Delivery"] for r in receiver.seen} - {
        r.headers["X-Plugboard-Delivery"] for r in receiver.requests
    }
    assert not retried, "every refused batch was later delivered with its delivery id"


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="the embedded default runs without Redis")
def test_the_embedded_default_delivers_in_process(
    tenant: Tenant, outbound_server: Callable[..., ServerProcess], receiver: HttpReceiver
) -> None:
    assert connection.vendor == "sqlite"
    things = [tenant.plug(f"meter-{i}") for i in range(2)]
    server = outbound_server(**ALLOW)
    connector = _connect(server, tenant, things, receiver.url)
    for n in range(10):
        for thing in things:
            _write(server, thing, n)
    assert wait_for(lambda: sum(map(len, _delivered(receiver).values())) == 20, timeout=30), (
        server.log.read_text()[-3000:]
    )
    assert _delivered(receiver) == {thing.plug.id: list(range(10)) for thing in things}
    assert outbox_status(kind=KIND, targets=[connector])[connector].delivered == 20
