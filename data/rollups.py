"""Rollups (SPEC §14): per-minute, per-hour and per-day summaries of every series, kept within a
minute of the writes, each level with its own retention, so raw points may expire while their
summaries stay.

How they stay true:

- **Marks.** Every write, overwrite (rule 1's same-millisecond replacement), move (a record
  modified by id) and removal appends one `RollupMark` per series and run of adjacent minutes
  it touched, in the write's transaction, as one statement per batch (`rollups_mark`): a batch
  of a series' points marks one row, however many minutes they span. Marks are only appended,
  never updated, so writers never wait on each other or on the refresh.
- **Refresh.** `rollups_refresh` (a Celery beat task every `ROLLUP_EVERY` seconds, in process on
  the embedded default, and first thing in every purge) takes a batch of marks, joins them
  into runs per series, and rebuilds each run: its minutes from the raw points (expired ones
  included: a summary keeps what was stored), then the whole hours holding it from their
  minutes and the whole days from their hours, all in one transaction, so a refresh killed
  midway leaves the marks for the next. On PostgreSQL that is two set-based statements per
  level (clear the run's buckets, insert them back from one range scan and GROUP BY); on
  SQLite the same in Python. A transaction-level advisory lock lets one refresh run at a
  time on PostgreSQL (a second one skips): two recomputing the same minute from different
  snapshots could otherwise commit the older last.
- **Reads.** A minute still marked is taken from the raw points by the aggregating query
  (`data.aggregation`), and so is every hour and day holding one: an answer never waits for the
  refresh and never reads a stale summary.

The purge (`data.expiry`) refreshes before it removes expired points, so every point is rolled
up while it is still there. What cannot be exact, by construction: a late write (or a removal)
into a minute whose other points were already purged recomputes that minute from the points
that remain, and likewise an hour whose minutes passed their retention (docs/retention.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import Q

from data.models import DataPoint, Rollup, RollupMark
from data.store import rollup_marks_append, rollup_marks_take, rollups_recompute

log = logging.getLogger(__name__)

MINUTE, HOUR, DAY = Rollup.Level.MINUTE.value, Rollup.Level.HOUR.value, Rollup.Level.DAY.value
LEVELS = (DAY, HOUR, MINUTE)  # coarsest first
FINER = {HOUR: MINUTE, DAY: HOUR}
RANGES_PER_STATEMENT = 200  # OR-ed (series, range) conditions in one read
SPANS_PER_STATEMENT = 100  # a series' (level, range) reads joined by UNION ALL (SQLite: ≤ 500)
_ADVISORY_KEY = 0x726F6C6C757073  # "rollups": one refresh at a time on PostgreSQL

SeriesKey = tuple[str, str, str]  # (account, channel, of)
_ROW_FIELDS = ("count", "numbers", "total", "low", "high", "first_at", "first", "last_at", "last")


def is_number(value: Any) -> bool:
    """A JSON number, as the aggregators count one (a boolean is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(slots=True)
class Summary:
    """Count, sum, min, max, first and last of some points: of raw points added one by one, or of
    buckets merged (the order of either does not matter)."""

    count: int = 0
    numbers: int = 0
    total: float = 0
    low: float | None = None
    high: float | None = None
    first_at: int | None = None
    first: Any = None
    last_at: int | None = None
    last: Any = None

    def add_point(self, at: int, value: Any) -> None:
        self.count += 1
        if is_number(value):
            self.numbers += 1
            self.total += value
            if self.low is None or value < self.low:
                self.low = value
            if self.high is None or value > self.high:
                self.high = value
        self._ends(at, value, at, value)

    def add(self, other: Summary) -> None:
        self.count += other.count
        if other.numbers:
            self.numbers += other.numbers
            self.total += other.total
            if self.low is None or (other.low is not None and other.low < self.low):
                self.low = other.low
            if self.high is None or (other.high is not None and other.high > self.high):
                self.high = other.high
        self._ends(other.first_at, other.first, other.last_at, other.last)

    def _ends(self, first_at: int | None, first: Any, last_at: int | None, last: Any) -> None:
        # (A summary read without its ends, for an aggregator that needs neither, has None.)
        if first_at is not None and (self.first_at is None or first_at < self.first_at):
            self.first_at, self.first = first_at, first
        if last_at is not None and (self.last_at is None or last_at > self.last_at):
            self.last_at, self.last = last_at, last

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> Summary:
        """From a rollup's `_ROW_FIELDS`."""
        count, numbers, total, low, high, first_at, first, last_at, last = row
        return cls(count, numbers, total or 0, low, high, first_at, first, last_at, last)

    def row(self) -> tuple[Any, ...]:
        """As a rollup's `_ROW_FIELDS`."""
        return (self.count, self.numbers, self.total, self.low, self.high) + (
            self.first_at,
            self.first,
            self.last_at,
            self.last,
        )


# --- marks (the write side) ------------------------------------------------------------------


def rollups_mark(keys: Iterable[tuple[str, str, str, int]]) -> None:
    """Mark the minutes of (account, channel, of, at) as changed: one row per series and run of
    adjacent minutes, one statement for the batch."""
    minutes: dict[SeriesKey, set[int]] = {}
    for a, c, o, at in keys:
        minutes.setdefault((a, c, o), set()).add(at - at % MINUTE)
    rollup_marks_append([(a, c, o, lo, hi) for (a, c, o), lo, hi in _ranges(minutes, MINUTE)])


# --- refresh -----------------------------------------------------------------------------------


def _ranges(buckets: dict[SeriesKey, set[int]], width: int) -> list[tuple[SeriesKey, int, int]]:
    """Each series' buckets as runs [start, end) of adjacent ones."""
    runs = []
    for series, starts in buckets.items():
        ordered = sorted(starts)
        lo = hi = ordered[0]
        for b in ordered[1:]:
            if b != hi + width:
                runs.append((series, lo, hi + width))
                lo = b
            hi = b
        runs.append((series, lo, hi + width))
    return runs


def _in_ranges(runs: Sequence[tuple[SeriesKey, int, int]], column: str, **extra: Any) -> Q:
    condition = Q()
    for (account, channel, of), lo, hi in runs:
        condition |= Q(
            account_id=account, channel=channel, of=of, **{f"{column}__gte": lo, f"{column}__lt": hi}, **extra
        )
    return condition


def _chunks(runs: list[tuple[SeriesKey, int, int]]) -> Iterable[list[tuple[SeriesKey, int, int]]]:
    for start in range(0, len(runs), RANGES_PER_STATEMENT):
        yield runs[start : start + RANGES_PER_STATEMENT]


Run = tuple[SeriesKey, int, int]  # a series' [start, end)


def _joined(runs: Iterable[Run], width: int) -> list[Run]:
    """The runs widened to whole buckets of `width`, those of a series that overlap or touch
    joined (so no point is counted twice)."""
    spans: dict[SeriesKey, list[tuple[int, int]]] = {}
    for series, lo, hi in runs:
        spans.setdefault(series, []).append((lo - lo % width, -(-hi // width) * width))
    joined = []
    for series, pairs in spans.items():
        pairs.sort()
        lo, hi = pairs[0]
        for a, b in pairs[1:]:
            if a > hi:
                joined.append((series, lo, hi))
                lo = a
            hi = max(hi, b)
        joined.append((series, lo, hi))
    return joined


def _rows(runs: list[Run]) -> list[tuple[str, str, str, int, int]]:
    return [(a, c, o, lo, hi) for (a, c, o), lo, hi in runs]


def _recompute_in_python(level: int, runs: list[Run]) -> None:
    """The level's buckets in the runs, from the raw points (minutes) or the finer level's rows."""
    found: dict[tuple[SeriesKey, int], Summary] = {}
    for chunk in _chunks(runs):
        if level == MINUTE:
            points = DataPoint.objects.filter(_in_ranges(chunk, "at")).values_list(
                "account_id", "channel", "of", "at", "data"
            )
            # Streamed (a server-side cursor on PostgreSQL): a busy series' minutes may hold many.
            for a, c, o, at, data in points.iterator(chunk_size=5_000):
                key = ((a, c, o), at - at % MINUTE)
                summary = found.get(key)
                if summary is None:
                    summary = found[key] = Summary()
                summary.add_point(at, data)
        else:
            finer = Rollup.objects.filter(_in_ranges(chunk, "bucket", level=FINER[level])).values_list(
                "account_id", "channel", "of", "bucket", *_ROW_FIELDS
            )
            for a, c, o, bucket, *fields in finer.iterator(chunk_size=5_000):
                key = ((a, c, o), bucket - bucket % level)
                summary = found.get(key)
                if summary is None:
                    found[key] = Summary.of_row(fields)
                else:
                    summary.add(Summary.of_row(fields))
        Rollup.objects.filter(_in_ranges(chunk, "bucket", level=level)).delete()
    Rollup.objects.bulk_create(
        [
            Rollup(
                account_id=a,
                channel=c,
                of=o,
                level=level,
                bucket=bucket,
                count=s.count,
                numbers=s.numbers,
                total=float(s.total) if s.numbers else None,
                low=s.low,
                high=s.high,
                first_at=s.first_at or 0,  # a summary of any point has both ends
                first=s.first,
                last_at=s.last_at or 0,
                last=s.last,
            )
            for ((a, c, o), bucket), s in found.items()
        ],
        batch_size=1_000,
    )


def _recompute(minutes: list[Run]) -> None:
    """The runs' minutes, then the hours and days holding them: set-based SQL on PostgreSQL
    (some 20x less time than through Python), Python elsewhere or when a number is beyond
    the float range (the statement fails, and Python's arithmetic takes over)."""
    levels = [(MINUTE, None, minutes), (HOUR, MINUTE, _joined(minutes, HOUR))]
    levels.append((DAY, HOUR, _joined(levels[1][2], DAY)))
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                for level, finer, runs in levels:
                    rollups_recompute(level, finer, _rows(runs))
            return
        except DataError:
            pass
    for level, _, runs in levels:
        _recompute_in_python(level, runs)


def _refresh_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: the write transaction itself is exclusive
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_ADVISORY_KEY])
        return bool(cursor.fetchone()[0])


def rollups_refresh(*, batch: int | None = None) -> int:
    """Recompute the marked runs of minutes, and the hours and days holding them; return how
    many marks were consumed (0 also when another refresh holds the lock)."""
    batch = batch or settings.PLUGBOARD["ROLLUP_BATCH"]
    consumed = 0
    while True:
        with transaction.atomic():
            if not _refresh_lock():
                return consumed
            marks = rollup_marks_take(batch)
            if marks:
                _recompute(_joined((((a, c, o), lo, hi) for a, c, o, lo, hi in marks), MINUTE))
        consumed += len(marks)
        if len(marks) < batch:
            return consumed


async def rollups_schedule() -> None:
    """The embedded default's in-process refresh (production runs Celery beat instead)."""
    interval = float(os.environ.get("ROLLUP_EVERY", 20))
    while True:
        await asyncio.sleep(interval)
        try:
            await sync_to_async(rollups_refresh, thread_sensitive=False)()
        except Exception:  # keep the schedule alive; the marks wait for the next round
            log.exception("rollup refresh failed")


# --- reads: which buckets answer a range --------------------------------------------------------


@dataclass(frozen=True)
class Cover:
    """A time range [lo, hi) split into rollup buckets of some levels and raw spans."""

    rollups: list[tuple[int, int, int]]  # (level, lo, hi): the level's buckets starting in [lo, hi)
    raw: list[tuple[int, int]]  # [lo, hi) of raw points


def levels_for(sampling_ms: int | None) -> tuple[int, ...]:
    """The levels whose buckets fall wholly inside one bucket of the sampling (all without one)."""
    return tuple(level for level in LEVELS if sampling_ms is None or sampling_ms % level == 0)


def rollup_sampling(width: int) -> int:
    """`width` (ms) rounded up to whole buckets of the largest level it reaches (a minute at
    least): a sampling the rollups answer."""
    level = next((level for level in LEVELS if level <= width), MINUTE)
    return -(-width // level) * level


def cover(lo: int, hi: int, levels: Sequence[int], marked: Sequence[int]) -> Cover:
    """[lo, hi) as the coarsest buckets of `levels` that lie inside it and hold no marked minute
    (sorted minute starts), finer levels for the rest, raw points for what no level covers."""
    rollups: list[tuple[int, int, int]] = []
    raw: list[tuple[int, int]] = []

    def split(lo: int, hi: int, depth: int) -> None:
        if lo >= hi:
            return
        if depth == len(levels):
            if raw and raw[-1][1] == lo:
                raw[-1] = (raw[-1][0], hi)
            else:
                raw.append((lo, hi))
            return
        level = levels[depth]
        first, last = -(-lo // level) * level, hi // level * level
        if first >= last:
            split(lo, hi, depth + 1)
            return
        split(lo, first, depth + 1)
        run = first
        inside = marked[bisect_left(marked, first) : bisect_left(marked, last)]
        for bucket in sorted({m - m % level for m in inside}):
            if run < bucket:
                rollups.append((level, run, bucket))
            split(bucket, bucket + level, depth + 1)
            run = bucket + level
        if run < last:
            rollups.append((level, run, last))
        split(last, hi, depth + 1)

    split(lo, hi, 0)
    return Cover(rollups, raw)


def marked_minutes(
    *, account_id: str, channel: str, of: str, lo: int, hi: int, limit: int
) -> list[int] | None:
    """The series' minutes in [lo, hi) still marked (their rollups may be stale), in order; None
    when there are more than `limit` (a backlog not refreshed yet: the reader goes raw)."""
    first = lo - lo % MINUTE
    rows = RollupMark.objects.filter(account_id=account_id, channel=channel, of=of, minute__lt=hi).filter(
        Q(until__gt=first) | Q(until__isnull=True, minute__gte=first)
    )
    minutes: set[int] = set()
    for start, until in rows.values_list("minute", "until"):
        span = range(max(start, first), min(start + MINUTE if until is None else until, hi), MINUTE)
        if len(span) > limit:
            return None
        minutes.update(span)
        if len(minutes) > limit:
            return None
    return sorted(minutes)


def rollup_rows(
    *, account_id: str, channel: str, of: str, spans: Sequence[tuple[int, int, int]], ends: bool
) -> list[tuple[Any, ...]]:
    """(bucket start, *`_ROW_FIELDS`) of a series' rollups in the spans (level, lo, hi), as the
    database gives them (a total may be None), the first and last values None unless `ends` is
    asked: a year of hours for an average decodes no JSON and builds no object per hour.

    One index range scan per span, joined by UNION ALL: OR-ed in one WHERE, the spans were a
    filter over every bucket of the series (a year of minutes read to answer from its hours)."""
    columns = "bucket, count, numbers, total, low, high, " + (
        'first_at, "first", last_at, "last"' if ends else "NULL, NULL, NULL, NULL"
    )
    one = (
        f"SELECT {columns} FROM {Rollup._meta.db_table} WHERE account_id = %s AND channel = %s "
        'AND "of" = %s AND level = %s AND bucket >= %s AND bucket < %s'
    )
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(spans), SPANS_PER_STATEMENT):
        chunk = spans[start : start + SPANS_PER_STATEMENT]
        params = [x for level, lo, hi in chunk for x in (account_id, channel, of, level, lo, hi)]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join([one] * len(chunk)), params)
            rows += cursor.fetchall()
    if ends:  # JSON comes as text from both databases' cursors (SQL NULL: None)
        rows = [(*r[:7], _json(r[7]), r[8], _json(r[9])) for r in rows]
    return rows


def _json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def rollups_purge_cutoffs(now: int) -> list[tuple[int, int]]:
    """(level, cutoff) for each level with a retention: its buckets starting before the cutoff go."""
    names = {MINUTE: "ROLLUP_MINUTE_DAYS", HOUR: "ROLLUP_HOUR_DAYS", DAY: "ROLLUP_DAY_DAYS"}
    days = {level: settings.PLUGBOARD[name] for level, name in names.items()}
    return [(level, now - days[level] * DAY) for level in LEVELS if days[level] > 0]
