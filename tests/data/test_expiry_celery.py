"""SPEC §8 with a real Celery worker: the beat task purges through the broker (Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from data.models import DataPoint
from data.tasks import purge_expired
from plugboard.timestamps import now_ms
from tests.support import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def _expired_point(account_id: str) -> None:
    now = now_ms()
    DataPoint.objects.create(
        account_id=account_id, channel="old", of=account_id, at=now - 5, data=1, expire_at=now - 1
    )
    DataPoint.objects.create(account_id=account_id, channel="new", of=account_id, at=now, data=2)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the embedded default runs tasks in-process")
def test_purge_runs_on_a_real_worker(tenant) -> None:
    _expired_point(tenant.account.id)
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "plugboard.celery",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        purge_expired.delay()
        assert wait_for(lambda: not DataPoint.objects.filter(channel="old").exists(), timeout=60)
        assert DataPoint.objects.filter(channel="new").exists()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="with Redis the task goes to a worker")
def test_purge_runs_in_process_on_the_embedded_default(tenant) -> None:
    assert connection.vendor == "sqlite"
    _expired_point(tenant.account.id)
    purge_expired.delay()
    assert list(DataPoint.objects.values_list("channel", flat=True)) == ["new"]
