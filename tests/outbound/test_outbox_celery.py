"""The outbox with real Celery workers (Redis broker, beat's sweep embedded with `-B`) and a real
HTTP receiver: a receiver down for a while, a worker SIGKILLed mid-batch, two workers at once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from outbound.models import OutboxMessage
from outbound.outbox import outbox_add, outbox_status
from tests.outbound.receivers import HttpReceiver
from tests.support import ROOT, database_url, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the embedded default has no workers"),
]
KIND = "test-http"  # tests/outbound/celery_harness.py


def _worker(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "PLUGBOARD_VAR_DIR": str(tmp_path / name),
        "PLUGBOARD_OUTBOUND_SWEEP_SECONDS": "1",
        "PLUGBOARD_OUTBOUND_TIMEOUT": "1",  # a dead worker's claim lapses after 7 s
        "PLUGBOARD_OUTBOUND_RETRY_SECONDS": "0.2,0.5,1",
    }
    command = [sys.executable, "-m", "celery", "-A", "tests.outbound.celery_harness", "worker", "-B"]
    command += ["--pool=solo", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    command += ["-n", f"{name}@%h"]
    log = (tmp_path / f"{name}.log").open("ab")
    # Its own process group: `-B` runs beat in a child process, which a SIGKILL of the worker
    # alone would leave running after the test.
    return subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rec = HttpReceiver()
    yield rec
    rec.stop()


def _stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # what is left of its group (the beat child)


def _queue(receiver: HttpReceiver, keys: list[str], start: int, count: int) -> None:
    for key in keys:
        with transaction.atomic():
            payloads = [{"n": n} for n in range(start, start + count)]
            outbox_add(account_id="acc-1", kind=KIND, target=receiver.url, key=key, payloads=payloads)


def _received(receiver: HttpReceiver) -> dict[str, list[int]]:
    per_key: dict[str, list[int]] = {}
    for request in list(receiver.requests):
        for item in request.json():
            per_key.setdefault(item["key"], []).append(item["payload"]["n"])
    return per_key


@pytest.mark.timeout(300)  # two workers started under a shared machine's load
def test_receiver_down_then_up_two_workers(tmp_path: Path, receiver: HttpReceiver) -> None:
    workers = [_worker(tmp_path, "w1"), _worker(tmp_path, "w2")]
    try:
        receiver.down = True
        keys = ["d1", "d2", "d3"]
        _queue(receiver, keys, 0, 50)
        status = lambda: outbox_status(kind=KIND, targets=[receiver.url])[receiver.url]  # noqa: E731
        assert wait_for(lambda: status().failures >= 6, timeout=60), (tmp_path / "w1.log").read_text()[-2000:]
        _queue(receiver, keys, 50, 30)  # the outbox keeps filling while the receiver is down
        assert status().pending == 240 and "503" in status().last_error
        receiver.down = False
        assert wait_for(lambda: not OutboxMessage.objects.exists(), timeout=60)
    finally:
        _stop(*workers)
    assert _received(receiver) == {key: list(range(80)) for key in keys}
    deliveries = Counter(r.headers["X-Delivery"] for r in receiver.requests)
    assert set(deliveries.values()) == {1}, "no batch delivered twice"
    refused = {r.headers["X-Delivery"] for r in receiver.seen} - set(deliveries)
    assert not refused, "a retried batch keeps its delivery id"
    assert status().delivered == 240 and status().pending == 0


@pytest.mark.timeout(300)  # a claim lapses (7 s) and a second worker starts
def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path, receiver: HttpReceiver) -> None:
    first = _worker(tmp_path, "w1")
    second = None
    try:
        receiver.holding = True  # the first batch stays in flight until the worker is dead
        _queue(receiver, ["d1"], 0, 60)
        assert receiver.arrived.wait(timeout=60), (tmp_path / "w1.log").read_text()[-2000:]
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its beat, as a crash takes both
        first.wait(timeout=30)
        receiver.down = True  # the held request is answered to nobody: not a delivery
        receiver.hold.set()
        receiver.holding = False
        assert wait_for(lambda: receiver.answered >= 1)
        receiver.down = False
        second = _worker(tmp_path, "w2")
        assert wait_for(lambda: not OutboxMessage.objects.exists(), timeout=90), (
            tmp_path / "w2.log"
        ).read_text()[-2000:]
    finally:
        _stop(first, *([second] if second else []))
    assert _received(receiver) == {"d1": list(range(60))}
    held = receiver.seen[0]
    assert receiver.requests[0].headers["X-Delivery"] == held.headers["X-Delivery"]
    assert receiver.requests[0].body == held.body, "the same batch again, with the same delivery id"
