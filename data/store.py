"""The data store's vendor-specific statements (PostgreSQL's COPY and jsonb, SQLite's VALUES).

`data.services` runs the write pipeline and calls these for the few statements a batch needs;
everything here takes rows, not requests, and knows nothing of who writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, models, transaction
from django.db.models import DEFERRED

from data.models import DataPoint, JournalEntry, RollupMark
from devices.models import Plug, Property
from plugboard.models import Account

M = TypeVar("M", bound=models.Model)


def _instance_maker(model: type[M], names: Sequence[str]) -> Callable[[Sequence[Any]], M]:
    """A model instance from a row of the fields `names` (the others deferred), as the ORM
    makes one from a query's row, without the query."""
    where = [names.index(f.attname) if f.attname in names else -1 for f in model._meta.concrete_fields]

    def make(row: Sequence[Any]) -> M:
        return model.from_db(DEFAULT_DB_ALIAS, names, [row[i] if i >= 0 else DEFERRED for i in where])

    return make


_COLUMNS = '(id, account_id, channel, "of", at, data, expire_at)'
_CONFLICT = (
    ' ON CONFLICT (account_id, channel, "of", at) DO UPDATE SET data = EXCLUDED.data, '
    'expire_at = EXCLUDED.expire_at RETURNING id, account_id, channel, "of", at'
)


# Up to this many points (and journal rows) a statement is one multi-row INSERT: one round trip,
# where COPY takes two (and the points' COPY a savepoint around it, two more). A device's
# single-point write is most requests (bench/request_path.py); COPY stays the way in for batches.
# (The rollups' marks stay COPY: tests count captured statements, which COPY is not.)
FEW_ROWS = 8


def points_upsert(rows: list[tuple[Any, ...]]) -> list[tuple[str, str, str, str, int]]:
    """Insert the rows; a row whose key is already taken updates that point and keeps its OID.
    Returns (OID, account, channel, of, at) for every row."""
    table = DataPoint._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or len(rows) <= FEW_ROWS:
            data = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
            values = ",".join([f"(%s,%s,%s,%s,%s,{data},%s)"] * len(rows))
            cursor.execute(
                f"INSERT INTO {table} {_COLUMNS} VALUES {values}{_CONFLICT}",
                [v for row in rows for v in row],
            )
            return cursor.fetchall()
        # Time series mostly append: the batch is copied in, the cheapest way into a table,
        # with no RETURNING since every OID is ours. Only when a key is already taken (a
        # rewrite of a millisecond, rule 1) is the batch upserted instead.
        # COPY goes to psycopg's own cursor: Django's error wrapping is asked for explicitly, so
        # a connection that died is Django's OperationalError (a 503, and the pool drops it).
        with connection.wrap_database_errors:
            try:
                with transaction.atomic(), cursor.cursor.copy(f"COPY {table} {_COLUMNS} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            except psycopg.errors.UniqueViolation:
                cursor.execute(UPSERT.format(table=table), [_rows_document(rows)])
                return cursor.fetchall()
        return [row[:5] for row in rows]


UPSERT = (
    # jsonb_to_recordset makes a JSON null SQL NULL: put back the JSON null that COPY stores, so
    # a point's null value reads (and aggregates: first/last) alike whichever way it came in.
    "INSERT INTO {table} " + _COLUMNS + " SELECT r.id, r.a, r.c, r.o, r.t, COALESCE(r.d, 'null'::jsonb), r.e "
    "FROM jsonb_to_recordset(%s::jsonb) AS r(id varchar, a varchar, c varchar, o varchar, "
    "t bigint, d jsonb, e bigint)" + _CONFLICT
)


def _rows_document(rows: list[tuple[Any, ...]]) -> str:
    """The rows as one JSON document: psycopg adapts one string in C, where seven Python lists
    of a thousand values each would cost more than the statement itself."""
    quoted: dict[str, str] = {}  # accounts, plugs and channels repeat across a batch

    def q(text: str) -> str:
        if text not in quoted:
            quoted[text] = json.dumps(text)
        return quoted[text]

    return (
        "["
        + ",".join(
            f'{{"id":"{oid}","a":{q(account)},"c":{q(channel)},"o":{q(of)},'
            f'"t":{at},"d":{data_json},"e":{"null" if expire is None else expire}}}'
            for oid, account, channel, of, at, data_json, expire in rows
        )
        + "]"
    )


# The journal's columns as `_journal` fills them (`data` last but one, as JSON text).

JOURNAL_COLUMNS = (
    "account_id",
    "received_at",
    "event",
    "source",
    "credential",
    "point_id",
    "channel",
    "of",
    "at",
    "data",
    "expire_at",
)


def journal_append(rows: list[tuple[Any, ...]], values: Sequence[Any]) -> None:
    """Append rows (`JOURNAL_COLUMNS`, `data` as JSON text) to the journal: COPY on PostgreSQL
    (append-only, the fastest way in), one multi-row insert elsewhere, where the ORM takes the
    same `data` as the Python `values`."""
    if not rows:
        return
    if connection.vendor == "postgresql" and len(rows) <= FEW_ROWS:
        columns = ", ".join(f'"{c}"' for c in JOURNAL_COLUMNS)
        one = "(" + ",".join("%s::jsonb" if c == "data" else "%s" for c in JOURNAL_COLUMNS) + ")"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {JournalEntry._meta.db_table} ({columns}) VALUES {','.join([one] * len(rows))}",
                [v for row in rows for v in row],
            )
        return
    if connection.vendor == "postgresql":
        columns = ", ".join(f'"{c}"' for c in JOURNAL_COLUMNS)
        statement = f"COPY {JournalEntry._meta.db_table} ({columns}) FROM STDIN"
        with (
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    entries = []
    for row, value in zip(rows, values, strict=True):
        fields = dict(zip(JOURNAL_COLUMNS, row, strict=True))
        fields["data"] = value
        entries.append(JournalEntry(**fields))
    JournalEntry.objects.bulk_create(entries, batch_size=2_000)


def properties_set_latest(rows: Sequence[tuple[Any, str, int]]) -> None:
    """Set (property id, value as JSON text, at) as properties' latest values, unless a stored
    one is newer."""
    # One UPDATE; the time comparison is repeated in SQL so a concurrent writer's newer
    # value is never overwritten by an older one.
    table = Property._meta.db_table
    if connection.vendor == "postgresql":
        values = ",".join(["(%s, CAST(%s AS jsonb), CAST(%s AS bigint))"] * len(rows))
        source = f"(VALUES {values}) AS v(id, val, at)"
    else:  # SQLite names VALUES columns column1, column2, …
        values = ",".join(["(%s, %s, %s)"] * len(rows))
        source = f"(SELECT column1 AS id, column2 AS val, column3 AS at FROM (VALUES {values})) AS v"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > 1:
            # Writers of the same properties at once (a device's requests spread over two
            # server processes by a balancer) lock them in one order, by id, first: the UPDATE
            # locks its rows in whatever order its join reads them, and two such orders deadlocked.
            cursor.execute(
                f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                [sorted({row[0] for row in rows})],
            )
        cursor.execute(
            f"UPDATE {table} SET last_value = v.val, last_at = v.at FROM {source} "
            f"WHERE {table}.id = v.id AND ({table}.last_at IS NULL OR {table}.last_at <= v.at)",
            [x for row in rows for x in row],
        )


# What the write service reads of a property (`properties_named`'s columns, in this order).
PROPERTY_COLUMNS: tuple[str, ...] = ("id", "plug_id", "name", "type", "min", "max", "access", "publish")
PROPERTY_COLUMNS += ("retention", "last_value", "last_at")
_property_of_row = _instance_maker(Property, PROPERTY_COLUMNS)
_LAST_VALUE = Property._meta.get_field("last_value")


def _last_value(stored: Any) -> Any:
    """A property's latest value as the ORM reads it from the database's JSON."""
    return _LAST_VALUE.from_db_value(stored, None, connection)  # type: ignore[arg-type]  # no expression


def properties_named(
    plug_ids: Collection[str], names: Collection[str], folded: Collection[str]
) -> dict[tuple[str, str], Property]:
    """(plug, name) → property, of the properties of `plug_ids` named one of `names` or,
    lower-cased, one of `folded`, with only `PROPERTY_COLUMNS` loaded. One plain statement: the
    ORM's query for the same took ~2 ms per batch of a hundred plugs in Python alone, a group
    commit's largest fixed cost."""
    if not plug_ids or not (names or folded):
        return {}
    marks = ",".join(["%s"] * len(plug_ids))
    wanted = [f"name IN ({','.join(['%s'] * len(names))})"] if names else []
    if folded:
        wanted.append(f"LOWER(name) IN ({','.join(['%s'] * len(folded))})")
    columns = ", ".join(PROPERTY_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {Property._meta.db_table} WHERE plug_id IN ({marks}) "
            f"AND ({' OR '.join(wanted)})",
            [*plug_ids, *names, *folded],
        )
        rows = cursor.fetchall()
    props = {}
    for row in rows:
        prop = _property_of_row((*row[:-2], _last_value(row[-2]), row[-1]))
        props[(prop.plug_id, prop.name)] = prop
    return props


# What the write service reads of a plug.
_PLUG_FIELDS = ("id", "account_id", "status", "kind", "profile_id")
_plug_of_row = _instance_maker(Plug, _PLUG_FIELDS)


def plugs_named(plug_ids: Collection[str]) -> tuple[dict[str, Plug], dict[str, int | None]]:
    """The plugs `plug_ids` (only `_PLUG_FIELDS` loaded), and the default retention of their
    accounts: one query for both; rows, not the ORM's model instances, which cost a group
    commit of a hundred devices ~1 ms more."""
    if not plug_ids:
        return {}, {}
    table, accounts = Plug._meta.db_table, Account._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.id, p.account_id, p.status, p.kind, p.profile_id, a.default_retention FROM {table} p "
            f"JOIN {accounts} a ON a.id = p.account_id WHERE p.id IN ({','.join(['%s'] * len(plug_ids))})",
            list(plug_ids),
        )
        rows = cursor.fetchall()
    plugs: dict[str, Plug] = {}
    retentions: dict[str, int | None] = {}
    for plug_id, account_id, status, kind, profile_id, retention in rows:
        plugs[plug_id] = _plug_of_row((plug_id, account_id, status, kind, profile_id))
        retentions[account_id] = retention
    return plugs, retentions


def properties_create(created: Sequence[Property]) -> dict[tuple[str, str], Property]:
    """Create the properties a write's first points make (those a concurrent writer created
    first are left as they are): (plug, name) → each as stored, re-read."""
    Property.objects.bulk_create(created, ignore_conflicts=True)
    return {
        (prop.plug_id, prop.name): prop
        for prop in Property.objects.filter(
            plug_id__in={p.plug_id for p in created}, name__in={p.name for p in created}
        )
    }


def accounts_default_retention(account_ids: Collection[str]) -> list[tuple[str, int | None]]:
    """(account, default retention) of `account_ids`."""
    return list(Account.objects.filter(id__in=account_ids).values_list("id", "default_retention"))


def records_named(ids: Collection[str]) -> dict[str, DataPoint]:
    """The records `ids` a write modifies (their key and account only)."""
    return {
        r.id: r for r in DataPoint.objects.filter(id__in=ids).only("id", "account_id", "of", "at", "channel")
    }


def record_move(
    oid: str, account_id: str, channel: str, of: str, at: int, data: Any, expire_at: int | None
) -> None:
    """Rewrite record `oid` with a key, value and expiry; a record moved onto a key another
    point holds replaces that point (rule 1), instead of failing on the unique key."""
    DataPoint.objects.filter(account_id=account_id, channel=channel, of=of, at=at).exclude(id=oid).delete()
    DataPoint.objects.filter(id=oid).update(channel=channel, of=of, at=at, data=data, expire_at=expire_at)


# --- rollups' marks (data.rollups) ------------------------------------------------------------

_MARK_COLUMNS = '(account_id, channel, "of", minute, until)'


def rollup_marks_append(rows: Collection[tuple[str, str, str, int, int]]) -> None:
    """Append (account, channel, of, first minute, end) marks, each a run of adjacent minutes:
    COPY on PostgreSQL (the table has no unique key: a write never waits on another's mark), one
    multi-row insert elsewhere."""
    if not rows:
        return
    table = RollupMark._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} {_MARK_COLUMNS} FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        cursor.execute(
            f"INSERT INTO {table} {_MARK_COLUMNS} VALUES {','.join(['(%s,%s,%s,%s,%s)'] * len(rows))}",
            [v for row in rows for v in row],
        )


# In series and time order (the marks' index): a batch holds adjacent minutes, so it touches
# few hours and days. In table order a backlog (a year marked at once) spread each batch over
# every hour of the year, and each batch recomputed them all.
_MARK_ORDER = 'ORDER BY account_id, channel, "of", minute'
_MARK_RETURNING = 'RETURNING account_id, channel, "of", minute, COALESCE(until, minute + 60000)'


def rollup_marks_take(batch: int) -> list[tuple[str, str, str, int, int]]:
    """Remove up to `batch` marks and return them as (account, channel, of, start, end) (runs
    may overlap). Inside the caller's transaction: a refresh that fails puts them back. A mark
    committed after this statement began stays for the next refresh, so a write is never
    missed."""
    table = RollupMark._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} {_MARK_ORDER} LIMIT %s "
                f"FOR UPDATE SKIP LOCKED)) {_MARK_RETURNING}",
                [batch],
            )
        else:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} {_MARK_ORDER} LIMIT %s) "
                + _MARK_RETURNING,
                [batch],
            )
        return cursor.fetchall()  # duplicates too: the caller stops on a short batch


# --- rollups' recomputation on PostgreSQL (data.rollups) ---------------------------------------

_ROLLUP_TABLE = "data_rollup"
_ROLLUP_COLUMNS = (
    '(account_id, channel, "of", level, bucket, count, numbers, total, low, high, first_at, first, '
    "last_at, last)"
)
_RUNS = (
    "WITH r(a, c, o, lo, hi) AS (SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::bigint[], %s::bigint[]))"
)
# A run's buckets of the level go, then come back from what the run holds: the minutes from the
# raw points (expired ones too), a coarser level from the finer one's rows. Set-based: one index
# range scan per run and one GROUP BY, instead of a lookup per bucket. `OFFSET 0` keeps each
# run's rows one index range scan (flattened, the planner may merge-join the whole series).
_LEVEL_CLEAR = (
    _RUNS + f" DELETE FROM {_ROLLUP_TABLE} x USING r WHERE x.account_id = r.a AND x.channel = r.c "
    'AND x."of" = r.o AND x.level = %s AND x.bucket >= r.lo AND x.bucket < r.hi'
)
_MINUTES_FROM_POINTS = (
    _RUNS + f" INSERT INTO {_ROLLUP_TABLE} {_ROLLUP_COLUMNS} SELECT r.a, r.c, r.o, {{width}}, "
    "p.at / {width} * {width}, count(*), count(p.n), sum(p.n), min(p.n), max(p.n), min(p.at), "
    "(array_agg(p.data ORDER BY p.at))[1], max(p.at), (array_agg(p.data ORDER BY p.at DESC))[1] "
    "FROM r CROSS JOIN LATERAL (SELECT at, data, CASE WHEN jsonb_typeof(data) = 'number' "
    "THEN (data #>> '{{}}')::float8 END AS n FROM data_datapoint WHERE account_id = r.a AND channel = r.c "
    'AND "of" = r.o AND at >= r.lo AND at < r.hi OFFSET 0) p GROUP BY 1, 2, 3, 5'
)
_LEVEL_FROM_FINER = (
    _RUNS + f" INSERT INTO {_ROLLUP_TABLE} {_ROLLUP_COLUMNS} SELECT r.a, r.c, r.o, {{width}}, "
    "x.bucket / {width} * {width}, sum(x.count), sum(x.numbers), sum(x.total), min(x.low), max(x.high), "
    "min(x.first_at), (array_agg(x.first ORDER BY x.first_at))[1], max(x.last_at), "
    "(array_agg(x.last ORDER BY x.last_at DESC))[1] FROM r CROSS JOIN LATERAL "
    f'(SELECT * FROM {_ROLLUP_TABLE} WHERE account_id = r.a AND channel = r.c AND "of" = r.o '
    "AND level = {finer} AND bucket >= r.lo AND bucket < r.hi OFFSET 0) x GROUP BY 1, 2, 3, 5"
)


def rollups_recompute(width: int, finer: int | None, runs: Sequence[tuple[str, str, str, int, int]]) -> None:
    """Recompute the level `width` buckets of the runs (account, channel, of, start, end), which
    must not overlap within a series, from the raw points (`finer` None) or from level `finer`:
    two statements (PostgreSQL)."""
    if not runs:
        return
    columns: list[Any] = [list(column) for column in zip(*runs, strict=True)]
    if finer is None:
        fill = _MINUTES_FROM_POINTS.format(width=int(width))
    else:
        fill = _LEVEL_FROM_FINER.format(width=int(width), finer=int(finer))
    with connection.cursor() as cursor:
        # The planner's estimate of a run (a guess per lateral scan) is far above what it holds,
        # and past `jit_above_cost` PostgreSQL spent ~1 s compiling each statement that ran in 30 ms.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_LEVEL_CLEAR, [*columns, int(width)])
        cursor.execute(fill, columns)
