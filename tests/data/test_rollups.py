"""Rollups (SPEC §14): minute, hour and day summaries that answer the aggregating query exactly,
correct themselves after late, overwritten and removed points, and outlive the raw points.

The property-based test compares every answer with the aggregation of the raw series (as the
query computes it without rollups), on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from data.aggregation import AGGREGATORS, Aggregator, PointQuery, aggregate, query_run
from data.expiry import expiry_purge
from data.models import DataPoint, Rollup, RollupMark
from data.rollups import DAY, HOUR, MINUTE, cover, rollups_refresh
from data.services import PointIn, points_write
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import iso
from tests.conftest import plug_headers

T0 = 1_699_920_000_000  # 2023-11-14T00:00:00Z, a day boundary
NOW = T0 + 5 * DAY  # the queries' "now": after every point, before their expiry


def write(
    enrolled: Enrolled, channel: str, points: list[tuple[int, Any]], expire_at: int | None = None
) -> None:
    plug = enrolled.plug
    principal = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
    results = points_write(
        principal=principal,
        points=[PointIn(channel=channel, data=v, at=t, expire_at=expire_at) for t, v in points],
        source="http",
    )
    assert all(r.ok for r in results)


def run(
    enrolled: Enrolled, channel: str, name: str, sampling: int | None, start: int | None, end: int
) -> Any:
    query = PointQuery(start, end, (Aggregator(name, sampling),), 10_000, "asc")
    result = query_run(plug=enrolled.plug, channel=channel, ref=channel, query=query, now=NOW)
    return result["sampleSize"], [(v["t"], v["v"]) for v in result["results"][0]["values"]]


def reference(series: dict[int, Any], name: str, sampling: int | None, start: int | None, end: int) -> Any:
    """The raw computation: the points of the range, aggregated in Python."""
    points = sorted((t, v) for t, v in series.items() if (start is None or t >= start) and t <= end)
    return len(points), [(iso(t), v) for t, v in aggregate(points, Aggregator(name, sampling))]


def same(answer: Any, expected: Any) -> bool:
    (size, values), (want_size, want) = answer, expected
    if size != want_size or len(values) != len(want):
        return False
    for (t, v), (wt, wv) in zip(values, want, strict=True):
        if t != wt:
            return False
        if isinstance(v, float | int) and isinstance(wv, float | int) and not isinstance(v, bool):
            if not math.isclose(v, wv, rel_tol=1e-9, abs_tol=1e-6):
                return False
        elif v != wv or type(v) is not type(wv):
            return False
    return True


def test_cover_takes_the_coarsest_whole_buckets_and_raw_edges() -> None:
    lo, hi = T0 - 90 * 1000, T0 + 2 * DAY + HOUR + 2 * MINUTE + 5_000
    spans = cover(lo, hi, (DAY, HOUR, MINUTE), marked=[T0 + DAY + 5 * MINUTE])
    assert spans.rollups == [
        (MINUTE, T0 - MINUTE, T0),
        (DAY, T0, T0 + DAY),
        (MINUTE, T0 + DAY, T0 + DAY + 5 * MINUTE),  # the marked minute's day and hour are split
        (MINUTE, T0 + DAY + 6 * MINUTE, T0 + DAY + HOUR),
        (HOUR, T0 + DAY + HOUR, T0 + 2 * DAY),
        (HOUR, T0 + 2 * DAY, T0 + 2 * DAY + HOUR),
        (MINUTE, T0 + 2 * DAY + HOUR, T0 + 2 * DAY + HOUR + 2 * MINUTE),
    ]
    assert spans.raw == [
        (lo, T0 - MINUTE),
        (T0 + DAY + 5 * MINUTE, T0 + DAY + 6 * MINUTE),
        (T0 + 2 * DAY + HOUR + 2 * MINUTE, hi),
    ]
    # A sampling of 90 s is aligned with no level: no rollup answers it.
    assert cover(lo, hi, (), marked=[]).raw == [(lo, hi)]


@pytest.mark.django_db
def test_refresh_builds_the_three_levels_and_the_query_reads_them(thing: Enrolled) -> None:
    write(thing, "t", [(T0 + 10_000, 1), (T0 + 20_000, 2.5), (T0 + HOUR + 1, "x"), (T0 + DAY + 7, 4)])
    assert RollupMark.objects.count() == 3  # one mark per run of adjacent minutes written
    assert rollups_refresh() == 3
    assert RollupMark.objects.count() == 0
    rows = {(r.level, r.bucket): r for r in Rollup.objects.all()}
    assert set(rows) == {
        (MINUTE, T0),
        (MINUTE, T0 + HOUR),
        (MINUTE, T0 + DAY),
        (HOUR, T0),
        (HOUR, T0 + HOUR),
        (HOUR, T0 + DAY),
        (DAY, T0),
        (DAY, T0 + DAY),
    }
    day = rows[(DAY, T0)]
    assert (day.count, day.numbers, day.total, day.low, day.high) == (3, 2, 3.5, 1, 2.5)
    assert (day.first_at, day.first, day.last_at, day.last) == (T0 + 10_000, 1, T0 + HOUR + 1, "x")
    # The raw points gone, the day's answers stay.
    DataPoint.objects.all().delete()
    assert run(thing, "t", "avg", DAY, T0, T0 + 2 * DAY - 1) == (4, [(iso(T0), 1.75), (iso(T0 + DAY), 4)])
    assert run(thing, "t", "last", None, T0, T0 + 2 * DAY - 1) == (4, [(iso(T0 + 10_000), 4)])


@pytest.mark.django_db
def test_overwrites_removals_and_moves_correct_their_buckets(api: APIClient, thing: Enrolled) -> None:
    write(thing, "t", [(T0 + 1_000, 10), (T0 + 2_000, 20), (T0 + MINUTE + 5, 30)])
    rollups_refresh()
    write(thing, "t", [(T0 + 2_000, 2)])  # same millisecond: replaces 20
    rollups_refresh()
    minute = Rollup.objects.get(level=MINUTE, bucket=T0)
    assert (minute.count, minute.total, minute.high, minute.last) == (2, 12, 10, 2)
    # A removal through the channel dialect.
    r = api.delete("/iot/data/t", {"at": T0 + 1_000}, format="json", **plug_headers(thing))
    assert r.status_code == 200 and r.json() == 1
    rollups_refresh()
    minute = Rollup.objects.get(level=MINUTE, bucket=T0)
    assert (minute.count, minute.first, minute.first_at) == (1, 2, T0 + 2_000)
    assert Rollup.objects.get(level=HOUR, bucket=T0).count == 2
    # A record moved to another minute by its id leaves its old minute.
    oid = DataPoint.objects.get(at=T0 + 2_000).id
    r = api.put(
        "/iot/data/t", {"id": oid, "data": 3, "at": T0 + 5 * MINUTE}, format="json", **plug_headers(thing)
    )
    assert r.status_code == 200, r.content
    rollups_refresh()
    assert not Rollup.objects.filter(level=MINUTE, bucket=T0).exists()
    assert Rollup.objects.get(level=MINUTE, bucket=T0 + 5 * MINUTE).last == 3
    assert Rollup.objects.get(level=DAY, bucket=T0).total == 33


@pytest.mark.django_db
def test_rollups_outlive_expired_points_with_their_own_retention(thing: Enrolled, settings: Any) -> None:
    write(thing, "t", [(T0 + i * 10_000, i) for i in range(360)], expire_at=T0 + DAY)  # one hour
    expiry_purge(now=T0 + DAY)  # refreshes, then purges every point
    assert not DataPoint.objects.exists()
    # The raw answer was sum(range(360)) = 64,620; now it comes from the hour.
    assert run(thing, "t", "sum", None, T0, T0 + HOUR - 1) == (360, [(iso(T0), 64_620)])
    # Minutes go after their retention (90 days), hours and days stay.
    counts = expiry_purge(now=T0 + 91 * DAY)
    assert counts["rollups"] == 60
    assert set(Rollup.objects.values_list("level", flat=True)) == {HOUR, DAY}
    assert run(thing, "t", "max", HOUR, T0, T0 + DAY - 1) == (360, [(iso(T0), 359)])


@pytest.mark.django_db
def test_query_through_http_from_rollups(api: APIClient, thing: Enrolled) -> None:
    write(thing, "temperature", [(T0 + i * MINUTE, i % 7) for i in range(3 * 60)], expire_at=T0 + 2 * DAY)
    rollups_refresh()
    expiry_purge(now=T0 + 2 * DAY)
    body = {
        "startAbsolute": iso(T0),
        "endAbsolute": iso(T0 + 3 * HOUR - 1),
        "aggregators": [{"name": "count", "sampling": {"value": 1, "unit": "hours"}}],
    }
    r = api.post(
        "/v3/data/devices/_this_/properties/temperature/query", body, format="json", **plug_headers(thing)
    )
    assert r.status_code == 200, r.content
    assert r.json()["sampleSize"] == 180
    assert [v["v"] for v in r.json()["results"][0]["values"]] == [60, 60, 60]


@pytest.mark.django_db
def test_a_write_batch_marks_its_minutes_in_one_statement(thing: Enrolled) -> None:
    # (PostgreSQL copies the marks in, a statement the captured queries do not list.)
    write(thing, "t", [(T0, 1)])  # the property exists
    counts = []
    for day, size in ((1, 1), (2, 500)):
        with CaptureQueriesContext(connection) as queries:
            write(thing, "t", [(T0 + day * DAY + i * 1_000, i) for i in range(size)])
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]  # a batch's statements do not grow with its size
    # One mark per series and run of adjacent minutes: the 500 s are one run of 9 minutes.
    marks = RollupMark.objects.filter(minute__gte=T0 + DAY).order_by("minute")
    assert [(m.minute, m.until) for m in marks] == [
        (T0 + DAY, T0 + DAY + MINUTE),
        (T0 + 2 * DAY, T0 + 2 * DAY + 9 * MINUTE),
    ]


VALUES = st.one_of(
    st.integers(-1_000, 1_000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["a", "b"]),
    st.none(),
)
# Times on a coarse grid (so minutes hold several points and overwrites happen) over three days.
TIMES = st.builds(
    lambda m, s: T0 + m * MINUTE + s * 15_000, st.integers(0, 3 * 24 * 60 - 1), st.integers(0, 3)
)
BATCH = st.lists(st.tuples(TIMES, VALUES), min_size=1, max_size=30)
SAMPLINGS = st.sampled_from([None, MINUTE, 5 * MINUTE, HOUR, 3 * HOUR, DAY, 2 * DAY, 90_000, 1])
MOMENTS = st.one_of(st.none(), st.integers(T0 - HOUR, T0 + 3 * DAY + HOUR))
QUERIES = st.lists(
    st.tuples(st.sampled_from(AGGREGATORS), SAMPLINGS, MOMENTS, MOMENTS), min_size=1, max_size=6
)
_series = itertools.count()


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(BATCH, st.booleans()), min_size=1, max_size=4), queries=QUERIES)
def test_rollup_answers_equal_raw_answers(
    thing: Enrolled, batches: list[tuple[list[tuple[int, Any]], bool]], queries: list[Any]
) -> None:
    """Batches (later ones late into earlier minutes, overwriting some milliseconds), each
    followed or not by a refresh; every query equals the raw computation, before and after the
    raw points expire."""
    channel = f"p{next(_series)}"  # each example its own series
    expire_at = T0 + 10 * DAY
    series: dict[int, Any] = {}
    for points, refresh in batches:
        write(thing, channel, points, expire_at=expire_at)
        series.update(points)  # the last write of a millisecond wins
        if refresh:
            rollups_refresh()
    for name, sampling, a, b in queries:
        start, end = (a, b) if a is None or b is None or a <= b else (b, a)
        end = T0 + 4 * DAY if end is None else end
        answer, expected = (
            run(thing, channel, name, sampling, start, end),
            reference(series, name, sampling, start, end),
        )
        assert same(answer, expected), (name, sampling, start, end, answer, expected)
    # The raw points expire and are purged (after a refresh): whole days still answer.
    expiry_purge(now=expire_at)
    assert not DataPoint.objects.filter(channel=channel).exists()
    for name, sampling, _, _ in queries:
        if sampling is not None and sampling % DAY:
            sampling = DAY
        answer = run(thing, channel, name, sampling, T0, T0 + 3 * DAY - 1)
        expected = reference(series, name, sampling, T0, T0 + 3 * DAY - 1)
        assert same(answer, expected), (name, sampling, answer, expected)


@pytest.mark.django_db
def test_a_null_value_overwritten_is_still_a_value_for_first_and_last(thing: Enrolled) -> None:
    write(thing, "t", [(T0, 1)])
    write(thing, "t", [(T0, None), (T0 + 1, 2)])  # the key taken: the upsert path
    assert run(thing, "t", "first", 90_000, None, T0 + DAY) == (2, [(iso(T0), None)])
    assert run(thing, "t", "first", None, None, T0 + DAY) == (2, [(iso(T0), None)])


@pytest.mark.django_db
def test_the_refresh_drains_every_mark_even_when_a_batch_repeats_a_minute(thing: Enrolled) -> None:
    write(thing, "t", [(T0, 1)])
    write(thing, "t", [(T0 + 1, 2)])  # the same minute marked twice
    write(thing, "t", [(T0 + MINUTE, 3), (T0 + 2 * MINUTE, 4), (T0 + 3 * MINUTE, 5)])  # one run
    write(thing, "t", [(T0 + 2 * MINUTE + 1, 6)])  # inside the run
    assert rollups_refresh(batch=2) == 4
    assert not RollupMark.objects.exists()
    assert Rollup.objects.get(level=HOUR, bucket=T0).count == 6
    assert Rollup.objects.get(level=MINUTE, bucket=T0 + 2 * MINUTE).count == 2


@pytest.mark.django_db
def test_a_late_point_lands_in_its_buckets(thing: Enrolled) -> None:
    write(thing, "t", [(T0 + DAY + i * 10_000, 1) for i in range(360)])  # a day later's hour
    write(thing, "t", [(T0 + 10 * MINUTE, 2), (T0 + 11 * MINUTE, 4)])
    rollups_refresh()
    write(thing, "t", [(T0 + 10 * MINUTE + 30_000, 9), (T0 + HOUR + 5, 6)])  # late, out of order
    assert rollups_refresh() == 2  # two runs of minutes: 10 and 60 are not adjacent
    minute = Rollup.objects.get(level=MINUTE, bucket=T0 + 10 * MINUTE)
    assert (minute.count, minute.total, minute.high, minute.last_at) == (2, 11, 9, T0 + 10 * MINUTE + 30_000)
    assert Rollup.objects.get(level=HOUR, bucket=T0).count == 3
    assert Rollup.objects.get(level=HOUR, bucket=T0 + HOUR).count == 1
    day = Rollup.objects.get(level=DAY, bucket=T0)
    assert (day.count, day.total, day.first, day.last) == (4, 21, 2, 6)
    assert Rollup.objects.get(level=DAY, bucket=T0 + DAY).count == 360  # the later day untouched
    assert run(thing, "t", "sum", HOUR, T0, T0 + 2 * DAY - 1) == (
        364,
        [(iso(T0), 15), (iso(T0 + HOUR), 6), (iso(T0 + DAY), 360)],
    )
