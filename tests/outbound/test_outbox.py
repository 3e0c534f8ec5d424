"""The durable outbox (SPEC §13): committed with the write, delivered in order per key, in
batches with stable delivery ids, retried with growing delays, dead letters and replay, and
several workers at once without a batch delivered twice at the same time."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.test.utils import override_settings

from outbound import outbox
from outbound.models import OutboxMessage, OutboxStream
from outbound.outbox import (
    Entry,
    Message,
    deliverer_register,
    outbox_add,
    outbox_add_many,
    outbox_dead_letters,
    outbox_deliver,
    outbox_replay,
    outbox_runner_start,
    outbox_status,
    retry_delay_ms,
)
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
KIND = "test-recorder"


@dataclass
class Recorder:
    """A deliverer that records each batch, failing while `down` is set."""

    batches: list[list[Message]] = field(default_factory=list)
    attempts: list[tuple[str, list[int], float]] = field(default_factory=list)  # delivery id, ids, when
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: set[tuple[str, str]] = field(default_factory=set)
    overlaps: int = 0
    pause: float = 0.0

    def __call__(self, target: str, messages: Sequence[Message]) -> None:
        stream = (target, messages[0].key)
        with self.lock:
            self.attempts.append((messages[0].delivery_id, [m.id for m in messages], time.monotonic()))
            if stream in self.busy:
                self.overlaps += 1
            self.busy.add(stream)
        try:
            if self.pause:
                time.sleep(self.pause)  # holds the batch "in flight" while other workers claim
            if self.down:
                raise ConnectionError("receiver down")
            assert {m.target for m in messages} == {target}
            assert len({m.delivery_id for m in messages}) == 1
            with self.lock:
                self.batches.append(list(messages))
        finally:
            with self.lock:
                self.busy.discard(stream)

    def delivered(self, key: str | None = None, target: str = "t1") -> list[dict[str, object]]:
        return [m.payload for b in self.batches for m in b if m.target == target and key in (None, m.key)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    saved = dict(outbox._deliverers)
    outbox._deliverers.clear()  # only this test's kind is claimed
    deliverer_register(KIND, rec, batch=10)
    yield rec
    outbox._deliverers.clear()
    outbox._deliverers.update(saved)


def _add(key: str, values: range, target: str = "t1") -> None:
    with transaction.atomic():
        outbox_add(account_id="acc-1", kind=KIND, target=target, key=key, payloads=[{"v": v} for v in values])


def test_rows_leave_only_with_the_committed_transaction(recorder: Recorder) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_add(account_id="acc-1", kind=KIND, target="t1", key="d1", payloads=[{"v": 1}])
        raise RuntimeError("the write failed")
    assert not OutboxMessage.objects.exists()
    _add("d1", range(3))
    assert OutboxMessage.objects.count() == 3
    assert outbox_deliver() == 3
    assert recorder.delivered() == [{"v": 0}, {"v": 1}, {"v": 2}]
    assert not OutboxMessage.objects.exists()
    # Nothing left: the stream is idle, so a claim finds nothing without looking at messages.
    assert OutboxStream.objects.get().due_at is None
    assert outbox_deliver() == 0


def test_in_order_per_key_in_batches_with_one_delivery_id(recorder: Recorder) -> None:
    _add("d1", range(25))
    with transaction.atomic():
        outbox_add_many(
            [
                Entry(account_id="acc-1", kind=KIND, target="t1", key="d2", payloads=[{"v": 0}, {"v": 1}]),
                Entry(account_id="acc-1", kind=KIND, target="t2", key="d1", payloads=[{"v": 9}]),
            ]
        )
    _add("d1", range(25, 30))
    assert outbox_deliver() == 33
    assert recorder.delivered("d1") == [{"v": v} for v in range(30)]
    assert recorder.delivered("d2") == [{"v": 0}, {"v": 1}]
    assert recorder.delivered(target="t2") == [{"v": 9}]
    assert [len(b) for b in recorder.batches if b[0].key == "d1" and b[0].target == "t1"] == [10, 10, 10]
    assert len({b[0].delivery_id for b in recorder.batches}) == len(recorder.batches)
    status = outbox_status(kind=KIND, targets=["t1", "t2", "t3"])
    assert (status["t1"].delivered, status["t1"].pending, status["t2"].delivered) == (32, 0, 1)
    assert status["t3"].delivered == 0


@override_settings(PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.2, 0.4, 0.8])
def test_a_failing_batch_is_retried_with_growing_delays_and_the_same_delivery_id(recorder: Recorder) -> None:
    assert [retry_delay_ms(n) for n in (1, 2, 3, 4, 9)] == [200, 400, 800, 800, 800]
    _add("d1", range(15))
    recorder.down = True
    deadline = time.monotonic() + 30
    while len(recorder.attempts) < 4 and time.monotonic() < deadline:
        outbox_deliver()
        time.sleep(0.02)
    status = outbox_status(kind=KIND, targets=["t1"])["t1"]
    assert status.pending == 15 and status.failures >= 4
    assert "receiver down" in status.last_error
    first = recorder.attempts[:4]
    assert len({a[0] for a in first}) == 1, "a retried batch keeps its delivery id"
    assert all(a[1] == first[0][1] for a in first), "and its members"
    gaps = [b[2] - a[2] for a, b in zip(first, first[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8
    # Written while the receiver is down: queued behind the failing batch, not ahead of it.
    _add("d1", range(15, 20))
    recorder.down = False
    assert wait_for(lambda: outbox_deliver() or not OutboxMessage.objects.exists(), timeout=10)
    while OutboxMessage.objects.exists():
        outbox_deliver()
    assert recorder.delivered() == [{"v": v} for v in range(20)]
    assert recorder.batches[0][0].delivery_id == first[0][0]
    assert recorder.batches[0][0].attempts >= 4


@override_settings(PLUGBOARD_OUTBOUND_RETRY_SECONDS=[0.05], PLUGBOARD_OUTBOUND_RETENTION_SECONDS=0.3)
def test_dead_letters_after_the_retention_then_replayed(recorder: Recorder) -> None:
    _add("d1", range(12))
    recorder.down = True
    assert wait_for(lambda: outbox_deliver() or outbox_status(kind=KIND, targets=["t1"])["t1"].dead == 12)
    status = outbox_status(kind=KIND, targets=["t1"])["t1"]
    assert (status.pending, status.dead, status.delivered) == (0, 12, 0)
    letters = outbox_dead_letters(kind=KIND, target="t1")
    assert [m.payload for m, _ in letters] == [{"v": v} for v in range(12)]
    assert all("receiver down" in error and m.attempts >= 1 for m, error in letters)
    # A dead head does not block the stream: what comes next is delivered.
    recorder.down = False
    _add("d1", range(12, 14))
    assert outbox_deliver() == 2
    assert outbox_replay(kind=KIND, target="t1", ids=[letters[0][0].id]) == 1
    assert outbox_replay(kind=KIND, target="t1") == 11
    assert outbox_deliver() == 12
    assert recorder.delivered() == [{"v": v} for v in [12, 13, *range(12)]]
    assert outbox_status(kind=KIND, targets=["t1"])["t1"].dead == 0


@pytest.mark.skipif(not settings.CELERY_TASK_ALWAYS_EAGER, reason="with Redis, Celery workers deliver")
def test_the_embedded_default_delivers_in_process_after_the_commit(recorder: Recorder) -> None:
    stop = threading.Event()
    runner = outbox_runner_start(stop)
    try:
        _add("d1", range(3))  # the commit wakes the runner: no sweep interval to wait for
        assert wait_for(lambda: len(recorder.delivered()) == 3, timeout=4)
    finally:
        stop.set()
        outbox.outbox_kick()
        runner.join(timeout=10)
    assert recorder.delivered() == [{"v": 0}, {"v": 1}, {"v": 2}]
    assert not OutboxMessage.objects.exists()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED between connections")
def test_several_workers_never_deliver_a_stream_twice_at_once(recorder: Recorder) -> None:
    recorder.pause = 0.01
    keys = [f"d{i}" for i in range(6)]
    for round_ in range(4):
        for key in keys:
            _add(key, range(round_ * 25, round_ * 25 + 25))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while outbox_deliver(seconds=60):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert recorder.overlaps == 0
    for key in keys:
        assert recorder.delivered(key) == [{"v": v} for v in range(100)]
    by_id: defaultdict[str, int] = defaultdict(int)
    for delivery_id, _, _ in recorder.attempts:
        by_id[delivery_id] += 1
    assert set(by_id.values()) == {1}, "no batch delivered twice"
    assert outbox_status(kind=KIND, targets=["t1"])["t1"].delivered == 600


def test_sized_messages_fill_batches_up_to_the_deliverers_items(recorder: Recorder) -> None:
    with transaction.atomic():
        outbox_add_many(
            [
                Entry(
                    account_id="acc-1",
                    kind=KIND,
                    target="t1",
                    key="d1",
                    payloads=[{"v": n} for n in range(5)],
                    sizes=[4, 4, 6, 20, 1],
                )
            ]
        )
    assert outbox_status(kind=KIND, targets=["t1"])["t1"].pending == 35
    assert outbox_deliver() == 35
    # Up to 10 items a batch, whole messages, and a message over the budget goes alone.
    assert [[m.payload["v"] for m in b] for b in recorder.batches] == [[0, 1], [2], [3], [4]]
    assert [m.size for b in recorder.batches for m in b] == [4, 4, 6, 20, 1]
    assert outbox_status(kind=KIND, targets=["t1"])["t1"].delivered == 35
