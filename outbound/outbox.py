"""The durable outbox (SPEC §13): what must leave the platform is a row committed in the same
transaction as the write that caused it, delivered afterwards by workers, at least once, in
order per (kind, target, key), in batches, retried with growing delays, and kept as a dead
letter once it has failed for longer than the retention.

Producers call `outbox_add` inside their transaction; each kind of message (a data connector
type, a notification action) has one deliverer, registered with `deliverer_register` from its
app's `ready()`. `outbox_deliver` runs the claims: Celery's `outbound.tasks.deliver` with Redis
(kicked after each commit that added messages, swept by beat for retries), a thread of the
serving process on the embedded default (`outbox_runner_start`).

Claims: a worker takes one due stream at a time (`SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite's immediate transactions serialize the claim), leases it, and delivers its
head batch with no transaction open. While the lease runs no other worker takes that stream, so
a stream's batches go out one after the other, in order, and no batch is delivered twice at
once. A worker killed mid-batch leaves its lease to expire; the next worker delivers the same
batch again, with the same delivery id.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from outbound.models import OutboxMessage, OutboxStream, OutboxTarget
from plugboard.metrics import OUTBOUND_DEAD, OUTBOUND_DELIVERED, OUTBOUND_FAILURES
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One message as its deliverer sees it (`created_at`: epoch ms; `attempts`: failed attempts
    of its batch before this one)."""

    id: int
    account_id: str
    kind: str
    target: str
    key: str
    payload: dict[str, Any]
    delivery_id: str
    attempts: int
    created_at: int
    size: int = 1  # the items its payload carries (see Entry)


@dataclass(frozen=True)
class Entry:
    """Payloads for one (kind, target, key), as `outbox_add_many` takes them. `sizes` (one per
    payload, 1 by default): how many items each payload carries, e.g. the points of one write;
    a batch holds up to the deliverer's `batch` items, and delivered/pending/dead count items."""

    account_id: str
    kind: str
    target: str
    key: str
    payloads: Sequence[dict[str, Any]]
    sizes: Sequence[int] = ()


Deliver = Callable[[str, Sequence[Message]], None]


@dataclass(frozen=True)
class _Deliverer:
    deliver: Deliver
    batch: int


_deliverers: dict[str, _Deliverer] = {}


def deliverer_register(kind: str, deliver: Deliver, *, batch: int = 100) -> None:
    """`deliver(target, messages)` sends one batch (one target and key, in order) or raises to have
    it retried with growing delays; every message of a batch carries the batch's delivery_id, the
    same across retries. A batch holds up to `batch` items (messages of size 1 each unless their
    producer said otherwise; at least one message). Each deliverer must bound its own calls with
    timeouts (the claim's lease is `outbound_lease_seconds()`)."""
    _deliverers[kind] = _Deliverer(deliver=deliver, batch=max(1, batch))


def outbound_lease_seconds() -> float:
    """How long a claimed batch is left to its worker: twice the outbound call timeout, plus a
    margin for the database work around it. A worker that dies holding a claim delays its stream
    by this much."""
    return 2 * float(settings.PLUGBOARD_OUTBOUND_TIMEOUT) + 5


def outbox_add(
    *, account_id: str, kind: str, target: str, key: str, payloads: Sequence[dict[str, Any]]
) -> None:
    """Inside the caller's transaction: queue payloads for (kind, target), delivered in order per
    (kind, target, key)."""
    outbox_add_many([Entry(account_id=account_id, kind=kind, target=target, key=key, payloads=payloads)])


def outbox_add_many(entries: Sequence[Entry]) -> None:
    """`outbox_add` for several streams at once: two queries whatever their number (the streams'
    upsert, the messages' insert). Inside the caller's transaction; delivery is kicked after its
    commit."""
    entries = [e for e in entries if e.payloads]
    if not entries:
        return
    now = now_ms()
    streams = sorted({(e.kind, e.target, e.key) for e in entries})  # one lock order for every writer
    # A stream that was idle becomes due now; one waiting for a retry keeps its delay. `seq`
    # tells a worker that just emptied the stream that this write came in (see _finish).
    values = ", ".join(["(%s, %s, %s, %s, 0, 0, 1)"] * len(streams))
    params: list[Any] = []
    for kind, target, key in streams:
        params += [kind, target, key, now]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outbound_stream (kind, target, key, due_at, lease_until, attempts, seq) "
            f"VALUES {values} ON CONFLICT (kind, target, key) DO UPDATE SET "
            "seq = outbound_stream.seq + 1, due_at = COALESCE(outbound_stream.due_at, excluded.due_at) "
            "RETURNING id, kind, target, key",
            params,
        )
        ids = {(kind, target, key): sid for sid, kind, target, key in cursor.fetchall()}
    expires = now + int(float(settings.PLUGBOARD_OUTBOUND_RETENTION_SECONDS) * 1000)
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                stream_id=ids[(e.kind, e.target, e.key)],
                account_id=e.account_id,
                payload=_json(payload),
                created_at=now,
                expires_at=expires,
                size=size,
            )
            for e in entries
            for payload, size in zip(e.payloads, e.sizes or [1] * len(e.payloads), strict=True)
        ]
    )
    transaction.on_commit(outbox_kick)


def _json(payload: dict[str, Any]) -> str:
    try:
        return orjson.dumps(payload).decode()
    except TypeError:  # what orjson refuses (an integer beyond 64 bits) the standard library takes
        return json.dumps(payload, separators=(",", ":"))


# --- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    stream_id: int
    kind: str
    target: str
    key: str
    seq: int
    attempts: int
    messages: list[Message]
    expires_at: int  # the earliest of the batch's


def _claim(kinds: Sequence[str]) -> _Claim | None:
    """Take one due stream and its head batch, leased to this worker; None when nothing is due."""
    now = now_ms()
    with transaction.atomic():
        stream = (
            OutboxStream.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now, lease_until__lte=now, kind__in=kinds)
            .order_by("due_at")
            .only("id", "kind", "target", "key", "seq", "attempts")
            .first()
        )
        if stream is None:
            return None
        lease_until = now + int(outbound_lease_seconds() * 1000)
        OutboxStream.objects.filter(id=stream.id).update(lease_until=lease_until)
        size = _deliverers[stream.kind].batch
        rows = list(OutboxMessage.objects.filter(stream_id=stream.id, dead=False).order_by("id")[:size])
        # The batch is the head run of messages sharing one delivery id: a retried batch keeps
        # its id and its members; fresh messages (no id yet) get a new one together.
        first = rows[0].delivery_id if rows else ""
        batch: list[OutboxMessage] = []
        items = 0
        for row in rows:
            if row.delivery_id != first:
                break
            if not first and batch and items + row.size > size:  # a fresh batch: up to `size` items
                break
            batch.append(row)
            items += row.size
        delivery_id = first or uuid.uuid4().hex
        if not first and batch:
            OutboxMessage.objects.filter(id__in=[r.id for r in batch]).update(delivery_id=delivery_id)
    messages = [
        Message(
            id=r.id,
            account_id=r.account_id,
            kind=stream.kind,
            target=stream.target,
            key=stream.key,
            payload=orjson.loads(r.payload),
            delivery_id=delivery_id,
            attempts=stream.attempts,
            created_at=r.created_at,
            size=r.size,
        )
        for r in batch
    ]
    return _Claim(
        stream_id=stream.id,
        kind=stream.kind,
        target=stream.target,
        key=stream.key,
        seq=stream.seq,
        attempts=stream.attempts,
        messages=messages,
        expires_at=min((r.expires_at for r in batch), default=now),
    )


def _release(claim: _Claim, *, due_at: int, attempts: int) -> None:
    """Give the stream back: due at `due_at`, or idle when it has nothing left and no write came
    in since the claim (a write bumps `seq`; one not committed yet holds the stream row's lock,
    so this update waits for it and then sees the new `seq`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE outbound_stream SET lease_until = 0, attempts = %s, due_at = CASE "
            "WHEN seq = %s AND NOT EXISTS (SELECT 1 FROM outbound_message m "
            "WHERE m.stream_id = %s AND NOT m.dead) THEN NULL ELSE %s END WHERE id = %s",
            [attempts, claim.seq, claim.stream_id, due_at, claim.stream_id],
        )


def _count(claim: _Claim, *, delivered: int = 0, failures: int = 0, dead: int = 0, error: str = "") -> None:
    now = now_ms()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outbound_target (kind, target, delivered, failures, dead, last_delivered_at, "
            "last_error, last_error_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, target) DO UPDATE SET "
            "delivered = outbound_target.delivered + excluded.delivered, "
            "failures = outbound_target.failures + excluded.failures, "
            "dead = outbound_target.dead + excluded.dead, "
            "last_delivered_at = COALESCE(excluded.last_delivered_at, outbound_target.last_delivered_at), "
            "last_error = CASE WHEN excluded.last_error_at IS NULL THEN outbound_target.last_error "
            "ELSE excluded.last_error END, "
            "last_error_at = COALESCE(excluded.last_error_at, outbound_target.last_error_at)",
            [
                claim.kind,
                claim.target,
                delivered,
                failures,
                dead,
                now if delivered else None,
                error,
                now if error else None,
            ],
        )


def retry_delay_ms(attempts: int) -> int:
    """The delay before attempt `attempts + 1` of a batch that failed `attempts` times: the
    schedule's entries in turn, then its last one."""
    schedule = settings.PLUGBOARD_OUTBOUND_RETRY_SECONDS
    return int(float(schedule[min(attempts, len(schedule)) - 1]) * 1000)


def _deliver_one(claim: _Claim) -> int:
    """Deliver a claimed batch and record the outcome; the number of items delivered."""
    ids = [m.id for m in claim.messages]
    items = sum(m.size for m in claim.messages)
    if not ids:  # a stream left with dead letters only
        with transaction.atomic():
            _release(claim, due_at=now_ms(), attempts=0)
        return 0
    error = ""
    try:
        _deliverers[claim.kind].deliver(claim.target, claim.messages)
    except Exception as exc:  # any failure of the outside world is retried
        error = f"{type(exc).__name__}: {exc}"[:1000] or type(exc).__name__
        log.info(
            "outbound delivery failed",
            extra={
                "kind": claim.kind,
                "target": claim.target,
                "attempts": claim.attempts + 1,
                "error": error,
            },
        )
    now = now_ms()
    with transaction.atomic():
        if not error:
            OutboxMessage.objects.filter(id__in=ids).delete()
            _release(claim, due_at=now, attempts=0)
            _count(claim, delivered=items)
        else:
            attempts = claim.attempts + 1
            if claim.expires_at <= now:  # failed for longer than the retention: dead letters
                OutboxMessage.objects.filter(id__in=ids).update(dead=True, attempts=attempts, error=error)
                _release(claim, due_at=now, attempts=0)
                _count(claim, failures=1, dead=items, error=error)
            else:
                _release(claim, due_at=now + retry_delay_ms(attempts), attempts=attempts)
                _count(claim, failures=1, error=error)
    # Counted once the outcome is committed (/metrics; the per-target counts are the rows above).
    if not error:
        OUTBOUND_DELIVERED.labels(claim.kind).inc(items)
        return items
    OUTBOUND_FAILURES.labels(claim.kind).inc()
    if claim.expires_at <= now:
        OUTBOUND_DEAD.labels(claim.kind).inc(items)
    return 0


def outbox_deliver(*, seconds: float = 50.0) -> int:
    """Deliver due batches, one claim after the other, until none is due or `seconds` passed
    (0: one claim); the number of items delivered. Safe to run in any number of workers at
    once."""
    kinds = list(_deliverers)
    if not kinds:
        return 0
    deadline = time.monotonic() + seconds
    delivered = 0
    while True:  # at least one claim, whatever `seconds`
        claim = _claim(kinds)
        if claim is None:
            break
        delivered += _deliver_one(claim)
        if time.monotonic() >= deadline:
            break
    return delivered


# --- running the deliveries ----------------------------------------------------------------------

_KICK_EVERY = 0.1  # seconds: at most one immediate and one trailing task per window and process
_kick_lock = threading.Lock()
_kick_window_end = 0.0
_kick_trailing = False
_kick_error_logged = 0.0
_runner_wake: threading.Event | None = None


def outbox_kick() -> None:
    """After a commit that added messages: have them delivered soon. In-process (the embedded
    default) it wakes the runner thread; with Redis it sends the Celery task, at most once now
    and once at the end of each 100 ms window per process (a busy ingest would otherwise send a
    task per write; a running task takes every batch that is due, so none waits past the
    window). Never raises: with Redis down the messages wait for the sweep."""
    global _kick_window_end, _kick_trailing, _kick_error_logged
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if _runner_wake is not None:
            _runner_wake.set()
        return
    now = time.monotonic()
    with _kick_lock:
        if now >= _kick_window_end:
            countdown = 0.0
            _kick_window_end, _kick_trailing = now + _KICK_EVERY, False
        elif not _kick_trailing:
            countdown = _kick_window_end - now
            _kick_trailing = True
        else:
            return
    try:
        deliver.apply_async(countdown=countdown or None)
    except Exception:  # the broker is down: beat's sweep (or the next kick) delivers them
        if now - _kick_error_logged > 30:
            _kick_error_logged = now
            log.warning("outbound: could not kick the delivery task", exc_info=True)


def outbox_runner_start(stop: threading.Event | None = None) -> threading.Thread:
    """The embedded default's deliveries: a daemon thread of the serving process, woken after
    each commit that added messages and every `PLUGBOARD_OUTBOUND_SWEEP_SECONDS` for retries;
    it ends once `stop` is set."""
    global _runner_wake
    wake = _runner_wake = threading.Event()
    stopped = stop or threading.Event()

    def run() -> None:
        while not stopped.is_set():
            wake.wait(timeout=float(settings.PLUGBOARD_OUTBOUND_SWEEP_SECONDS))
            wake.clear()
            try:
                outbox_deliver()
            except Exception:  # keep the runner alive; the next round retries
                log.exception("outbound delivery round failed")
            finally:
                close_old_connections()

    thread = threading.Thread(target=run, name="outbox-runner", daemon=True)
    thread.start()
    return thread


# --- status, dead letters, replay --------------------------------------------------------------


@dataclass(frozen=True)
class TargetStatus:
    """A target's delivery state: items delivered, pending and dead, failed attempts, the age of
    its oldest pending message (seconds), its last error."""

    delivered: int
    pending: int
    dead: int
    failures: int
    lag_seconds: float
    last_error: str
    last_error_at: int | None
    last_delivered_at: int | None


def outbox_status(*, kind: str, targets: Sequence[str]) -> dict[str, TargetStatus]:
    """Each target's status, in three queries whatever their number."""
    from django.db.models import Min, Q, Sum

    now = now_ms()
    counters = {t.target: t for t in OutboxTarget.objects.filter(kind=kind, target__in=targets)}
    rows = (
        OutboxMessage.objects.filter(stream__kind=kind, stream__target__in=targets)
        .values("stream__target")
        .annotate(
            pending=Sum("size", filter=Q(dead=False), default=0),
            dead_now=Sum("size", filter=Q(dead=True), default=0),
            oldest=Min("created_at", filter=Q(dead=False)),
        )
    )
    queued: dict[str, dict[str, Any]] = {r["stream__target"]: dict(r) for r in rows}
    status = {}
    for target in targets:
        counter = counters.get(target)
        row: dict[str, Any] = queued.get(target) or {}
        oldest = row.get("oldest")
        status[target] = TargetStatus(
            delivered=counter.delivered if counter else 0,
            pending=row.get("pending", 0),
            dead=row.get("dead_now", 0),
            failures=counter.failures if counter else 0,
            lag_seconds=max(0.0, (now - oldest) / 1000) if oldest else 0.0,
            last_error=counter.last_error if counter else "",
            last_error_at=counter.last_error_at if counter else None,
            last_delivered_at=counter.last_delivered_at if counter else None,
        )
    return status


def outbox_dead_letters(
    *, kind: str, target: str, limit: int = 100, after: int = 0
) -> list[tuple[Message, str]]:
    """A target's dead letters in id order (after id `after`), each with its last error."""
    rows = (
        OutboxMessage.objects.filter(stream__kind=kind, stream__target=target, dead=True, id__gt=after)
        .select_related("stream")
        .order_by("id")[:limit]
    )
    return [
        (
            Message(
                id=r.id,
                account_id=r.account_id,
                kind=kind,
                target=target,
                key=r.stream.key,
                payload=orjson.loads(r.payload),
                delivery_id=r.delivery_id,
                attempts=r.attempts,
                created_at=r.created_at,
                size=r.size,
            ),
            r.error,
        )
        for r in rows
    ]


def outbox_replay(*, kind: str, target: str, ids: Sequence[int] | None = None) -> int:
    """Put a target's dead letters (all, or those of `ids`) back in their streams, in their
    original order ahead of what is pending, for another retention; the number replayed. They go
    out in fresh batches (new delivery ids); a batch under retry meanwhile keeps its own."""
    now = now_ms()
    expires = now + int(float(settings.PLUGBOARD_OUTBOUND_RETENTION_SECONDS) * 1000)
    with transaction.atomic():
        dead = OutboxMessage.objects.filter(stream__kind=kind, stream__target=target, dead=True)
        if ids is not None:
            dead = dead.filter(id__in=ids)
        stream_ids = set(dead.values_list("stream_id", flat=True))
        count = OutboxMessage.objects.filter(id__in=dead.values("id")).update(
            dead=False, delivery_id="", attempts=0, error="", expires_at=expires
        )
        OutboxStream.objects.filter(id__in=stream_ids).update(due_at=now, attempts=0)
        transaction.on_commit(outbox_kick)
    return count


def outbox_discard(*, kind: str, target: str) -> None:
    """Forget a target (its connector was deleted): its streams, messages and counters."""
    with transaction.atomic():
        streams = OutboxStream.objects.filter(kind=kind, target=target)
        OutboxMessage.objects.filter(stream_id__in=streams.values("id")).delete()
        streams.delete()
        OutboxTarget.objects.filter(kind=kind, target=target).delete()


@shared_task(name="outbound.tasks.deliver", time_limit=120, soft_time_limit=100, ignore_result=True)
def deliver() -> int:
    """The Celery task (named for `outbound.tasks`, where Celery finds it): deliver due outbox
    batches for up to 50 s (then the next kick or sweep goes on)."""
    return outbox_deliver(seconds=50.0)
