"""Processes killed outright (SIGKILL: no shutdown, no flush) under load (SPEC §11, issue 14):
the server with QoS 1 publishes in flight from a persistent session, a Celery worker in the
middle of a large purge. Nothing accepted is lost; duplicates only where QoS 1 allows them (a
publish whose PUBACK never left); no unexpired point deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings
from django.db import connection
from paho.mqtt.enums import CallbackAPIVersion

from data.models import DataPoint, JournalEntry
from plugboard.timestamps import now_ms
from tests.support import database_url, serve, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
AT = 1_700_000_000_000
MESSAGES = 3_000


class Publisher:
    """A paho client (clean session 0) that publishes MESSAGES QoS 1 points, one `at` each, and
    records which were PUBACKed; paho reconnects by itself and resends what was not."""

    def __init__(self, port: int, enrolled: Any) -> None:
        self.acked: set[int] = set()  # message ids (unique: fewer than 65,535 publishes)
        self.at_of_mid: dict[int, int] = {}
        self.connects = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=enrolled.plug.id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(enrolled.key.id, enrolled.auth)
        self.client.max_inflight_messages_set(50)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_publish = self._puback
        self.client.on_connect = self._connected
        self.topic = f"{enrolled.plug.id}/data/kill"
        self.client.connect("127.0.0.1", port, keepalive=25)
        self.client.loop_start()
        assert wait_for(lambda: self.connects, timeout=10), "no CONNACK"

    def _connected(self, *args: Any) -> None:
        self.connects += 1

    def _puback(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self.acked.add(mid)

    def publish_all(self) -> None:
        for n in range(MESSAGES):
            info = self.client.publish(self.topic, f'{{"data": {n}, "at": {AT + n}}}', qos=1)
            self.at_of_mid[info.mid] = AT + n

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_server_killed_with_qos1_publishes_in_flight(
    django_db_blocker: Any, tmp_path: Path, thing: Any, tenant: Any
) -> None:
    log = tmp_path / "server.log"
    server = serve(django_db_blocker, tmp_path / "var", log, REDIS_URL="")
    publisher = Publisher(server.mqtt_port, thing)
    try:
        publisher.publish_all()  # queued in paho; sent as the window allows
        assert wait_for(lambda: len(publisher.acked) >= MESSAGES // 5, timeout=30)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        acked_before = {publisher.at_of_mid[mid] for mid in list(publisher.acked)}
        assert len(acked_before) < MESSAGES, "every publish was acked before the kill: nothing in flight"

        server = serve(
            django_db_blocker, tmp_path / "var", log, ports=(server.http_port, server.mqtt_port), REDIS_URL=""
        )
        assert wait_for(lambda: len(publisher.acked) == MESSAGES, timeout=60), len(publisher.acked)
        assert publisher.connects >= 2
    finally:
        publisher.stop()
        server.stop()

    stored = Counter(
        DataPoint.objects.filter(account_id=tenant.account.id, channel="kill").values_list("at", flat=True)
    )
    assert set(stored) == {AT + n for n in range(MESSAGES)}  # every accepted point, and no other
    assert set(stored.values()) == {1}
    # Stored twice in the journal only when the first PUBACK never reached the client.
    journalled = Counter(
        JournalEntry.objects.filter(account_id=tenant.account.id, channel="kill").values_list("at", flat=True)
    )
    assert set(journalled) == set(stored)
    twice = {at for at, n in journalled.items() if n > 1}
    assert not twice & acked_before and max(journalled.values()) <= 2


# --- a Celery worker killed mid-purge -------------------------------------------------------

EXPIRED, KEPT = 60_000, 20_000


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "plugboard.celery", "worker", "--pool=solo"]
    command += ["--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _expired_left(account_id: str, now: int) -> int:
    return DataPoint.objects.filter(account_id=account_id, expire_at__lte=now).count()


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the embedded default runs tasks in-process")
def test_worker_killed_mid_purge(tenant: Any, tmp_path: Path) -> None:
    from data.tasks import purge_expired

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (generate_series)")
    account = tenant.account.id
    now = now_ms()
    table = DataPoint._meta.db_table
    with connection.cursor() as cursor:
        # Expired points (half of them far in the past) and points that expire later or never.
        cursor.execute(
            f"INSERT INTO {table} (id, account_id, channel, of, at, data, expire_at) "
            "SELECT 'x' || lpad(n::text, 23, '0'), %s, 'old', %s, %s + n, to_jsonb(n), %s - n "
            "FROM generate_series(1, %s) n",
            [account, account, now - 10_000_000, now - 1_000, EXPIRED],
        )
        cursor.execute(
            f"INSERT INTO {table} (id, account_id, channel, of, at, data, expire_at) "
            "SELECT 'k' || lpad(n::text, 23, '0'), %s, 'kept', %s, %s + n, to_jsonb(n), "
            "CASE WHEN n %% 2 = 0 THEN NULL ELSE %s + n END FROM generate_series(1, %s) n",
            [account, account, now, now + 3_600_000, KEPT],
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PLUGBOARD_PURGE_BATCH": "200",  # many short transactions: the kill lands between or in one
    }
    log = tmp_path / "worker.log"
    worker = _worker(env, log)
    try:
        purge_expired.delay()
        assert wait_for(lambda: _expired_left(account, now) < EXPIRED - 2_000, timeout=60), log.read_text()[
            -2000:
        ]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        left = _expired_left(account, now)
        assert 0 < left < EXPIRED, "the purge was not in the middle when killed"
        assert DataPoint.objects.filter(account_id=account, channel="kept").count() == KEPT

        worker = _worker(env, log)  # the killed task is gone (acked on receipt); beat sends the next
        purge_expired.delay()
        assert wait_for(lambda: _expired_left(account, now) == 0, timeout=60), log.read_text()[-2000:]
    finally:
        worker.kill()
        worker.wait(timeout=10)
    assert DataPoint.objects.filter(account_id=account, channel="kept").count() == KEPT
    assert not DataPoint.objects.filter(account_id=account, channel="old").exists()
