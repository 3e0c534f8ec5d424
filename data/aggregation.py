"""`POST data/devices/{ref}/properties/{prp}/query` (SPEC §6): a time range and aggregators.

Query object (the subset of Connio's, itself KairosDB's, that the dialect promises):
`startAbsolute`/`startRelative`, `endAbsolute`/`endRelative`, `aggregators`
`[{"name": avg|min|max|sum|count|first|last, "sampling": {"value", "unit"}}]`, `limit`, `order`.

- Relative times are "now minus value × unit"; units are milliseconds … weeks, plus months
  (30 days) and years (365 days). Without a start the range starts at the epoch; without an
  end it ends now. Both ends are inclusive.
- A sampling groups points into buckets `floor(at / sampling_ms)`, aligned on the epoch; a
  bucket's `t` is its start. An aggregator without a sampling reduces the whole range to one
  value whose `t` is the first point's time.
- avg/min/max/sum use the numeric values only (a bucket without any is left out); count counts
  every point; first/last are the values at the bucket's earliest/latest time.
- Aggregators are chained in the order given: the output series of one is the input of the next.
- `order` (asc by default) and `limit` (≤ 10,000, default 1,000) apply to the returned values.
- `sampleSize` is the number of raw points in the range.

The first aggregator reads the rollups (`data.rollups`) where their minute, hour or day
buckets lie wholly inside the range and inside one bucket of the sampling, and the raw points
for the rest (`_from_rollups`). Where no bucket helps (a short range, a sampling aligned with
no level, minutes written since the last refresh everywhere) it reads raw points:
on PostgreSQL the first aggregator runs in the database (GROUP BY bucket); elsewhere, and for
the later aggregators of a chain (which only see the previous output), it runs in Python.
`first` and `last` with a sampling over at most SEEK_BUCKETS buckets take one index seek per
bucket (the key orders a property's points by time) instead of reading every point of the
range: a week of a million points in 600 buckets is some 600 seeks, not a million rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DataError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from data.property_reads import property_points
from data.rollups import Summary, cover, levels_for, marked_minutes, rollup_rows
from devices.models import Plug
from plugboard.timestamps import MAX_MS, BadTimestamp, iso, parse_timestamp

UNITS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365 * 86_400_000,
}
AGGREGATORS = ("avg", "min", "max", "sum", "count", "first", "last")
NUMERIC = ("avg", "min", "max", "sum")
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000


class BadQuery(ValueError):
    pass


@dataclass(frozen=True)
class Aggregator:
    name: str
    sampling_ms: int | None  # None: the whole range is one bucket


@dataclass(frozen=True)
class PointQuery:
    start: int | None
    end: int | None
    aggregators: tuple[Aggregator, ...]
    limit: int
    order: str  # asc | desc


Series = list[tuple[int, Any]]


# --- parsing -------------------------------------------------------------------------------------


def _duration_ms(value: Any, what: str) -> int:
    if not isinstance(value, dict):
        raise BadQuery(f'{what} must be an object {{"value": n, "unit": "minutes"}}')
    amount, unit = value.get("value"), value.get("unit")
    if isinstance(amount, str):
        try:
            amount = float(amount)
        except ValueError:
            raise BadQuery(f"{what}.value must be a number")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount <= MAX_MS:
        raise BadQuery(f"{what}.value must be a number from 0 to {MAX_MS}")
    key = unit.strip().lower().removesuffix("s") if isinstance(unit, str) else None
    if key not in UNITS:
        raise BadQuery(f"{what}.unit must be one of {', '.join(u + 's' for u in UNITS)}")
    # A duration longer than the whole time line means "all of it": clamped, never overflowing.
    return int(min(amount * UNITS[key], MAX_MS))


def _moment(body: dict[str, Any], name: str, now: int) -> int | None:
    absolute, relative = body.get(f"{name}Absolute"), body.get(f"{name}Relative")
    if absolute is not None:
        try:
            return parse_timestamp(absolute, require_zone=True)
        except BadTimestamp as exc:
            raise BadQuery(f"{name}Absolute: {exc}")
    if relative is not None:
        return now - _duration_ms(relative, f"{name}Relative")
    return None


def _aggregator(item: Any, index: int) -> Aggregator:
    if not isinstance(item, dict):
        raise BadQuery(f"aggregators[{index}] must be an object with a name")
    name = item.get("name")
    if not isinstance(name, str) or name.lower() not in AGGREGATORS:
        raise BadQuery(f"aggregators[{index}].name must be one of {', '.join(AGGREGATORS)}")
    sampling = item.get("sampling")
    sampling_ms = None
    if sampling is not None:
        sampling_ms = _duration_ms(sampling, f"aggregators[{index}].sampling")
        if sampling_ms < 1:
            raise BadQuery(f"aggregators[{index}].sampling must be at least 1 millisecond")
    return Aggregator(name.lower(), sampling_ms)


def query_parse(*, body: Any, now: int) -> PointQuery:
    """A query object (an absent body is the empty query) → `PointQuery`, or `BadQuery`."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadQuery("the query must be a JSON object")
    start, end = _moment(body, "start", now), _moment(body, "end", now)
    if end is None:
        end = now
    if start is not None and start > end:
        raise BadQuery("the start of the range is after its end")
    aggregators = body.get("aggregators") or []
    if not isinstance(aggregators, list):
        raise BadQuery("aggregators must be a list")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer 1..{MAX_LIMIT}")
    order = body.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    return PointQuery(start, end, tuple(_aggregator(a, i) for i, a in enumerate(aggregators)), limit, order)


# --- running ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Integral floats as ints, so both databases answer alike (PostgreSQL sums in float8).
    A sum or average beyond the float range is None: JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _average(values: Sequence[Any]) -> Any:
    numbers = _numbers(values)
    if not numbers:
        return None
    try:
        return sum(numbers) / len(numbers)
    except OverflowError:  # integers beyond the float range
        return None


def _numbers(values: Sequence[Any]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


_REDUCE: dict[str, Callable[[list[Any]], Any]] = {
    "avg": _average,
    "min": lambda vs: min(ns) if (ns := _numbers(vs)) else None,
    "max": lambda vs: max(ns) if (ns := _numbers(vs)) else None,
    "sum": lambda vs: sum(ns) if (ns := _numbers(vs)) else None,
    "count": len,
    "first": lambda vs: vs[0],
    "last": lambda vs: vs[-1],
}


def aggregate(series: Series, aggregator: Aggregator) -> Series:
    """One aggregator over a series sorted by time (ascending), in Python."""
    buckets: dict[int, tuple[int, list[Any]]] = {}
    step = aggregator.sampling_ms
    for t, v in series:
        key = t // step if step else 0
        if key not in buckets:
            buckets[key] = ((key * step) if step else t, [])
        buckets[key][1].append(v)
    out: Series = []
    for t, values in buckets.values():
        result = _plain(_REDUCE[aggregator.name](values))
        if result is None and aggregator.name in NUMERIC:
            continue
        out.append((t, result))
    return out


_SQL_VALUE = {
    "avg": "avg({num})",
    "min": "min({num})",
    "max": "max({num})",
    "sum": "sum({num})",
    "count": "count(*)",
    "first": "((array_agg(p.data ORDER BY p.at ASC))[1])::text",
    "last": "((array_agg(p.data ORDER BY p.at DESC))[1])::text",
}
_NUMERIC_SQL = "CASE WHEN jsonb_typeof(p.data) = 'number' THEN (p.data #>> '{}')::float8 END"


SEEK_BUCKETS = 10_000  # first/last per bucket by index seeks up to this many buckets


def _seek_in_postgres(
    points: Any, aggregator: Aggregator, first_key: int, last_key: int, order: str, limit: int | None
) -> Series:
    """`first`/`last` per bucket as one index seek per bucket: for each bucket key of the
    range, the property's earliest (latest) unexpired point in it."""
    step = int(aggregator.sampling_ms or 0)
    newest = aggregator.name == "last"
    in_bucket = points.filter(
        at__gte=RawSQL("b.k * %s", [step]), at__lt=RawSQL("(b.k + 1) * %s", [step])
    ).order_by("-at" if newest else "at")
    sql, params = in_bucket.values("data")[:1].query.sql_with_params()
    statement = (
        f"SELECT k, v FROM (SELECT b.k AS k, (({sql}))::text AS v "
        f"FROM generate_series(%s::bigint, %s::bigint) AS b(k)) AS s "
        f"WHERE v IS NOT NULL ORDER BY k {'DESC' if order == 'desc' else 'ASC'}"
    )
    if limit is not None:
        statement += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, first_key, last_key])
        rows = cursor.fetchall()
    return [(int(k) * step, _plain(json.loads(v))) for k, v in rows]


def _aggregate_in_postgres(inner: Any, aggregator: Aggregator, order: str, limit: int | None) -> Series:
    """The first aggregator as one GROUP BY over the range's points."""
    sql, params = inner.values_list("at", "data").order_by().query.sql_with_params()
    value = _SQL_VALUE[aggregator.name].replace("{num}", _NUMERIC_SQL)
    step = aggregator.sampling_ms
    # The bucket width is an int computed here, inlined so SELECT and GROUP BY are one expression;
    # at ≥ 0 always (plugboard.timestamps), so integer division is floor().
    if step:
        head, group = f"p.at / {int(step)}", " GROUP BY 1"
    else:
        head, group = "min(p.at)", ""
    statement = (
        f"SELECT {head} AS k, {value} AS v FROM ({sql}) AS p{group} "
        f"HAVING {value} IS NOT NULL ORDER BY 1 {'DESC' if order == 'desc' else 'ASC'}"
    )
    if limit is not None:
        statement += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    out: Series = []
    for k, v in rows:
        if k is None:  # no sampling and no point in the range
            continue
        if aggregator.name in ("first", "last"):
            v = json.loads(v)
        out.append((int(k) * step if step else int(k), _plain(v)))
    return out


def query_run(
    *, plug: Plug, channel: str, ref: str, query: PointQuery, now: int, sample_size: bool = True
) -> dict[str, Any]:
    """`{"sampleSize", "results": [{"ref", "values": [{"t", "v"}]}]}` for one property."""
    size, series = query_series(plug=plug, channel=channel, query=query, now=now, sample_size=sample_size)
    return _answer(size, ref, series)


def query_series(
    *, plug: Plug, channel: str, query: PointQuery, now: int, sample_size: bool = True
) -> tuple[int | None, Series]:
    """(sampleSize, [(t in ms, v)]) for one property: `query_run`'s answer before its times
    are written in ISO 8601 (the console's chart draws the ms).

    `sample_size=False` (the console's chart, which never shows it) spares the COUNT over the
    whole range: `sampleSize` is then None."""
    points = property_points(plug=plug, channel=channel, start=query.start, end=query.end, now=now)
    aggregators = list(query.aggregators)
    series: Series
    rolled = _from_rollups(plug, channel, aggregators[0], query, now) if aggregators else None
    if rolled is not None:
        series, count = rolled
        size = count if sample_size else None
        for aggregator in aggregators[1:]:
            series = aggregate(series, aggregator)
        if query.order == "desc":
            series.reverse()
        return size, series[: query.limit]
    size = points.count() if sample_size else None
    if not aggregators:
        ordering = "-at" if query.order == "desc" else "at"
        series = list(points.order_by(ordering).values_list("at", "data")[: query.limit])
    else:
        single = len(aggregators) == 1
        in_database = connection.vendor == "postgresql"
        if in_database:
            try:
                head = aggregators[0]
                order, limit = (query.order, query.limit) if single else ("asc", None)
                step = head.sampling_ms
                first_key = (query.start or 0) // step if step else 0
                last_key = (now if query.end is None else query.end) // step if step else 0
                # A savepoint: a number beyond float8 (a huge integer, or a sum that overflows)
                # fails the statement, and Python's arithmetic takes over.
                with transaction.atomic():
                    if head.name in ("first", "last") and step and last_key - first_key < SEEK_BUCKETS:
                        series = _seek_in_postgres(points, head, first_key, last_key, order, limit)
                    else:
                        series = _aggregate_in_postgres(points, head, order, limit)
                aggregators.pop(0)
            except DataError:
                in_database = False
        if not in_database:
            series = list(points.order_by("at").values_list("at", "data"))
        for aggregator in aggregators:
            series = aggregate(series, aggregator)
        if not (single and in_database):
            if query.order == "desc":
                series.reverse()
            series = series[: query.limit]
    return size, series


def _answer(size: int | None, ref: str, series: Series) -> dict[str, Any]:
    return {
        "sampleSize": size,
        "results": [{"ref": ref, "values": [{"t": iso(t), "v": v} for t, v in series]}],
    }


# --- from rollups ------------------------------------------------------------------------------

# Past this many raw spans (marked minutes not refreshed yet, scattered) the range is read raw.
MAX_RAW_SPANS = 100
# Past this many minutes not refreshed yet in the range (a backlog), it is read raw at once.
MAX_MARKED = 2_000


def _average_of(row: Sequence[Any]) -> Any:
    if not row[1]:
        return None
    try:
        return _plain(row[2] / row[1])
    except OverflowError:  # a sum of raw integers beyond the float range
        return None


# What each aggregator makes of a bucket's (count, numbers, total, low, high, first_at, first,
# last_at, last); None: the bucket is left out (a numeric aggregator over no number). Chosen once
# per query, over tuples as the database gives them: a year of hours is 8,760 of these.
_SUMMARY_VALUE: dict[str, Callable[[Sequence[Any]], Any]] = {
    "count": lambda r: r[0],
    "first": lambda r: _plain(r[6]),
    "last": lambda r: _plain(r[8]),
    "avg": _average_of,
    "sum": lambda r: _plain(r[2]) if r[1] else None,
    "min": lambda r: _plain(r[3]) if r[1] else None,
    "max": lambda r: _plain(r[4]) if r[1] else None,
}


def _from_rollups(
    plug: Plug, channel: str, head: Aggregator, query: PointQuery, now: int
) -> tuple[Series, int] | None:
    """The first aggregator's series (ascending) and the number of points in the range, from
    the coarsest rollups whose buckets fall wholly inside the range and inside one bucket of
    the sampling, with the raw points for the rest (the range's partial edges, minutes changed
    since the last refresh); None when no rollup bucket helps (the caller reads raw).

    Rollups keep expired points: where a point has expired but its minute is summarised, the
    answer still counts it (that is what they are for), where raw answers would not."""
    levels = levels_for(head.sampling_ms)
    if not levels:
        return None
    lo = query.start or 0
    hi = (now if query.end is None else query.end) + 1  # the end is inclusive
    if hi - lo < levels[-1]:
        return None
    marked = marked_minutes(
        account_id=plug.account_id, channel=channel, of=plug.id, lo=lo, hi=hi, limit=MAX_MARKED
    )
    if marked is None:
        return None
    spans = cover(lo, hi, levels, marked)
    if not spans.rollups or len(spans.raw) > MAX_RAW_SPANS:
        return None
    step = head.sampling_ms
    # A sampling bucket holding one rollup bucket (a year of hours by the hour) keeps the row as
    # it came; one holding several, or raw points, becomes a Summary that merges them.
    rows: dict[int, tuple[Any, ...]] = {}
    merged: dict[int, Summary] = {}

    def into(key: int) -> Summary:
        summary = merged.get(key)
        if summary is None:
            row = rows.pop(key, None)
            summary = merged[key] = Summary() if row is None else Summary.of_row(row)
        return summary

    ends = head.name in ("first", "last") or not step
    for row in rollup_rows(
        account_id=plug.account_id, channel=channel, of=plug.id, spans=spans.rollups, ends=ends
    ):
        key = row[0] // step if step else 0
        if key in rows or key in merged:
            into(key).add(Summary.of_row(row[1:]))
        else:
            rows[key] = row[1:]
    if spans.raw:
        raw = Q()
        for a, b in spans.raw:
            raw |= Q(at__gte=a, at__lt=b)
        for at, value in (
            property_points(plug=plug, channel=channel, now=now).filter(raw).values_list("at", "data")
        ):
            into(at // step if step else 0).add_point(at, value)
    for key, summary in merged.items():
        rows[key] = summary.row()
    series: Series = []
    value_of, numeric = _SUMMARY_VALUE[head.name], head.name in NUMERIC
    for key in sorted(rows):
        row = rows[key]
        value = value_of(row)
        if value is None and numeric:
            continue
        t = key * step if step else row[5]
        assert t is not None  # without a sampling the ends were read
        series.append((t, value))
    return series, sum(row[0] for row in rows.values())
