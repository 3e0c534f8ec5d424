"""SPEC §8 with a real Celery worker: the beat task purges through the broker (Redis)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from data.models import DataPoint
from data.tasks import purge_expired
from plugboard.timestamps import now_ms
from tests.support import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
# Celery's default format: "[2026-12-02 01:02:03,456: INFO/MainProcess] …"
PLAIN_CELERY_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+: [A-Z]+/", re.MULTILINE)

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
            "--loglevel=INFO",
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
        output, _ = worker.communicate(timeout=30)
    # The worker logs JSON through the project's formatter, the purge's counts included.
    records = _json_lines(output.decode())
    purge = [r for r in records if r.get("logger") == "data.expiry"]
    assert purge, output.decode()[-3000:]
    assert purge[0]["points"] == 1 and "points=1" in purge[0]["message"]
    assert {"journal", "commands_expired", "commands"} <= set(purge[0])
    assert any(r["logger"].startswith("celery") for r in records)
    assert not PLAIN_CELERY_LINE.search(output.decode()), "a line in Celery's own format"


def _json_lines(output: str) -> list[dict[str, Any]]:
    """The log records among a process's output lines (the banner is printed, not logged)."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            assert {"time", "level", "logger", "message"} <= set(record)
            records.append(record)
    return records


def test_beat_logs_json_and_keeps_its_schedule_under_var(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "PLUGBOARD_VAR_DIR": str(var),
        "PURGE_EVERY": "3600",
        "SECRET_KEY": settings.SECRET_KEY,
    }
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "plugboard.celery", "beat", "--loglevel=INFO"],
        cwd=tmp_path,  # beat's working directory gets nothing
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        started = wait_for(lambda: list(var.glob("celerybeat-schedule*")), timeout=60)
    finally:
        beat.terminate()
        output, _ = beat.communicate(timeout=30)
    text = output.decode()
    assert started, text[-3000:]
    assert not list(tmp_path.glob("celerybeat-schedule*")), text[-3000:]
    records = _json_lines(text)
    assert any(r["logger"].startswith("celery.beat") for r in records), text[-3000:]
    assert not PLAIN_CELERY_LINE.search(text), "a line in Celery's own format"


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="with Redis the task goes to a worker")
def test_purge_runs_in_process_on_the_embedded_default(tenant) -> None:
    assert connection.vendor == "sqlite"
    _expired_point(tenant.account.id)
    purge_expired.delay()
    assert list(DataPoint.objects.values_list("channel", flat=True)) == ["new"]
