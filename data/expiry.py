"""TTL expiry (SPEC §8): bounded batches, short transactions, safe to run twice or to kill.

Each batch is its own transaction, so killing the purge midway loses nothing but the batch in
progress, which the next run picks up. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets two purges
run at once without waiting on, or double-counting, each other's rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction

from data.models import DataPoint, JournalEntry, Rollup
from data.partitions import (
    JOURNAL_DEFAULT,
    journal_is_partitioned,
    journal_partitions_create,
    journal_partitions_drop,
)
from data.rollups import rollups_purge_cutoffs, rollups_refresh
from plugboard.metrics import PURGE_LAST_SUCCESS, PURGE_RUNS, PURGED_ROWS
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


def delete_in_batches(table: str, where: str, params: list[int], batch: int) -> int:
    """Delete rows matching `where` in batches of `batch`; returns how many went."""
    if connection.vendor == "postgresql":
        # By tuple id: the outer DELETE is a TID scan, not a primary-key probe per row (3-4x
        # less time per row here). `where` is checked again on the row the TID names, so a TID
        # that meanwhile names another row (or, on a partitioned parent, one of each partition)
        # removes only rows that match it anyway.
        sql = (
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where}"
            f" LIMIT %s FOR UPDATE SKIP LOCKED)) AND {where}"
        )
        args = [*params, batch, *params]
    else:
        sql = f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where} LIMIT %s)"
        args = [*params, batch]
    # The purge yields to the writers: after each full batch it rests PURGE_PAUSE_PERCENT % of
    # the batch's own time, so it takes that share more wall time and leaves the database that
    # much of its CPU for ingest meanwhile (bench/purge.py).
    pause_ratio = settings.PLUGBOARD["PURGE_PAUSE_PERCENT"] / 100
    removed = 0
    while True:
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, args)
            count = cursor.rowcount
        removed += count
        if count < batch:
            return removed
        if pause_ratio > 0:
            time.sleep((time.monotonic() - started) * pause_ratio)


# (now, journal cutoff, batch) → counts: what other apps purge in the same run.
PurgeStep = Callable[[int, int, int], dict[str, int]]
_purge_steps: list[PurgeStep] = []


def purge_step_register(step: PurgeStep) -> None:
    """Have `step` run in every purge, after the points and the journal (the commands app
    registers its own in `ready()`)."""
    if step not in _purge_steps:
        _purge_steps.append(step)


def expiry_purge(*, now: int | None = None, batch: int | None = None) -> dict[str, int]:
    """Remove expired points, journal entries and rollups past their retention, then run the
    registered steps (expired commands); report how many rows each removed, in the log and in
    /metrics.

    The rollups are refreshed first, so the points about to go are in them (data.rollups)."""
    try:
        counts = _purge(now, batch)
    except Exception:
        PURGE_RUNS.labels("failed").inc()
        raise
    for what, count in counts.items():
        PURGED_ROWS.labels(what).inc(count)
    PURGE_RUNS.labels("ok").inc()
    PURGE_LAST_SUCCESS.set(time.time())
    return counts


def _purge(now: int | None, batch: int | None) -> dict[str, int]:
    now = now_ms() if now is None else now
    batch = batch or settings.PLUGBOARD["PURGE_BATCH"]
    journal_cutoff = now - settings.PLUGBOARD["JOURNAL_RETENTION_DAYS"] * DAY_MS
    rollups_refresh()
    points = delete_in_batches(DataPoint._meta.db_table, "expire_at <= %s", [now], batch)
    journal = _journal_purge(now, journal_cutoff, batch)
    rollups = sum(
        delete_in_batches(Rollup._meta.db_table, "level = %s AND bucket < %s", [level, cutoff], batch)
        for level, cutoff in rollups_purge_cutoffs(now)
    )
    counts = {"points": points, "journal": journal, "rollups": rollups}
    for step in _purge_steps:
        counts.update(step(now, journal_cutoff, batch))
    # The counts are in the message too, so any formatter shows them (and as fields in JSON).
    log.info("expiry purge: %s", " ".join(f"{k}={v}" for k, v in counts.items()), extra=counts)
    return counts


def _journal_purge(now: int, cutoff: int, batch: int) -> int:
    """Journal entries older than `cutoff` go: on PostgreSQL whole days at a time (a partition
    dropped; the days ahead are made first), and what the default partition holds row by row."""
    table = JournalEntry._meta.db_table
    dropped = 0
    if journal_is_partitioned():
        journal_partitions_create(now=now)
        dropped = journal_partitions_drop(cutoff=cutoff)
        table = JOURNAL_DEFAULT
    return dropped + delete_in_batches(table, "received_at < %s", [cutoff], batch)


async def expiry_schedule() -> None:
    """The embedded default's in-process schedule (production runs Celery beat instead)."""
    interval = float(os.environ.get("PURGE_EVERY", 60))
    while True:
        await asyncio.sleep(interval)
        try:
            await sync_to_async(expiry_purge, thread_sensitive=False)()
        except Exception:  # keep the schedule alive; the next round retries
            log.exception("expiry purge failed")
