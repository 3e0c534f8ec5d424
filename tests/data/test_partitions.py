"""The journal's day partitions on PostgreSQL: made ahead, a default for any time, retention by
whole days, reads across partitions unchanged, and the migration keeps the rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from data.expiry import expiry_purge
from data.models import JournalEntry
from data.partitions import (
    DAY_MS,
    DAYS_AHEAD,
    JOURNAL_DEFAULT,
    day_start,
    journal_is_partitioned,
    journal_partitions,
    journal_partitions_create,
    partition_name,
)
from data.services import PointIn, points_write
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import now_ms
from tests.conftest import plug_headers

pytestmark = pytest.mark.postgres

YEAR_MS = 365 * DAY_MS


@pytest.fixture(autouse=True)
def _postgresql(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite keeps the journal in one table")


def _entry(enrolled: Enrolled, received_at: int, data: object = 1) -> JournalEntry:
    return JournalEntry.objects.create(
        account_id=enrolled.plug.account_id,
        received_at=received_at,
        source="http",
        credential=enrolled.plug.id,
        channel="t",
        of=enrolled.plug.id,
        at=received_at,
        data=data,
    )


def _home(entry_id: int) -> str:
    """The partition holding the entry."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM data_journalentry WHERE id = %s", [entry_id])
        return str(cursor.fetchone()[0])


def _principal(enrolled: Enrolled) -> Principal:
    return Principal(
        account_id=enrolled.plug.account_id,
        kind="plug",
        credential=enrolled.plug.id,
        plug_id=enrolled.plug.id,
        plug_ids=(enrolled.plug.id,),
    )


def test_the_days_ahead_exist_after_migrate() -> None:
    assert journal_is_partitioned()
    today = day_start(now_ms())
    days = {p.start for p in journal_partitions() if p.start is not None}
    assert {today + i * DAY_MS for i in range(DAYS_AHEAD + 1)} <= days
    assert [p.name for p in journal_partitions() if p.start is None] == [JOURNAL_DEFAULT]


def test_a_write_lands_in_its_day_and_any_time_lands_somewhere(thing: Enrolled) -> None:
    now = now_ms()
    # The write path stamps server time: a point of any `at` is journaled in today's partition.
    far = [PointIn(channel="t", data=1, at=1), PointIn(channel="t", data=2, at=now + 100 * YEAR_MS)]
    assert all(r.ok for r in points_write(principal=_principal(thing), points=far, source="http"))
    homes = {_home(e.id) for e in JournalEntry.objects.filter(of=thing.plug.id)}
    assert homes == {partition_name(day_start(now))}
    # A server time no day covers (a clock far off, rows from before the partitions) still lands.
    assert _home(_entry(thing, 0).id) == JOURNAL_DEFAULT
    assert _home(_entry(thing, now + 100 * YEAR_MS).id) == JOURNAL_DEFAULT


def test_a_new_day_takes_its_rows_from_the_default(thing: Enrolled) -> None:
    later = day_start(now_ms()) + (DAYS_AHEAD + 3) * DAY_MS + 5
    entry = _entry(thing, later, data="early")
    assert _home(entry.id) == JOURNAL_DEFAULT

    created = journal_partitions_create(days_ahead=DAYS_AHEAD + 3)

    assert partition_name(day_start(later)) in created
    assert _home(entry.id) == partition_name(day_start(later))
    assert JournalEntry.objects.get(pk=entry.id).data == "early"
    assert journal_partitions_create(days_ahead=DAYS_AHEAD + 3) == []  # twice is harmless


def test_retention_drops_whole_days_and_keeps_the_recent(thing: Enrolled, settings) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "JOURNAL_RETENTION_DAYS": 30}
    now = now_ms()
    journal_partitions_create(since=now - 40 * DAY_MS)
    old = [_entry(thing, now - days * DAY_MS, data=f"old {days}") for days in (32, 35, 39)]
    ancient = _entry(thing, now - 10 * YEAR_MS, data="ancient")  # in the default
    for days in (0, 1, 29):
        _entry(thing, now - days * DAY_MS, data=f"kept {days}")
    _entry(thing, now + 100 * YEAR_MS, data="future")  # in the default, and not old
    assert _home(ancient.id) == JOURNAL_DEFAULT

    counts = expiry_purge(now=now)

    assert counts["journal"] == len(old) + 1
    left = set(JournalEntry.objects.values_list("data", flat=True))
    assert left == {"kept 0", "kept 1", "kept 29", "future"}
    cutoff = now - 30 * DAY_MS
    days = [p for p in journal_partitions() if p.end is not None]
    assert min(p.start for p in days) == day_start(cutoff)  # the cutoff's own day stays, whole
    assert max(p.start for p in days) >= day_start(now) + DAYS_AHEAD * DAY_MS
    assert expiry_purge(now=now)["journal"] == 0


@pytest.mark.django_db(transaction=True)  # the maintenance lock lasts as long as a transaction
def test_a_purge_busy_elsewhere_drops_nothing_and_the_next_one_does(thing: Enrolled, settings) -> None:
    import psycopg

    settings.PLUGBOARD = {**settings.PLUGBOARD, "JOURNAL_RETENTION_DAYS": 30}
    now = now_ms()
    journal_partitions_create(since=now - 40 * DAY_MS)
    _entry(thing, now - 35 * DAY_MS)
    db = connection.settings_dict
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"
    with psycopg.connect(dsn, autocommit=True) as other:  # another purge holding the lock
        other.execute("SELECT pg_advisory_lock(%s)", [0x6A6F75726E616C])
        assert expiry_purge(now=now)["journal"] == 0
    assert expiry_purge(now=now)["journal"] == 1


def test_the_events_read_spans_the_partitions(api: APIClient, thing: Enrolled) -> None:
    now = now_ms()
    journal_partitions_create(since=now - 5 * DAY_MS)
    for days in (4, 2, 0):
        _entry(thing, now - days * DAY_MS, data=days)
    _entry(thing, now + 100 * YEAR_MS, data="default")
    homes = {_home(e.id) for e in JournalEntry.objects.filter(of=thing.plug.id)}
    assert len(homes) == 4

    r = api.get("/v3/data/devices/_this_/events", {"pageSize": 3}, **plug_headers(thing))

    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 4
    assert [e["v"] for e in body["results"]] == ["default", 0, 2]  # newest id first
    r = api.get("/v3/data/devices/_this_/events", {"pageSize": 3, "pageNo": 2}, **plug_headers(thing))
    assert [e["v"] for e in r.json()["results"]] == [4]


@pytest.fixture
def _journal_unpartitioned() -> Iterator[None]:
    call_command("migrate", "data", "0003", verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", "data", verbosity=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_journal_unpartitioned")
def test_the_migration_keeps_every_entry_and_the_numbering(thing: Enrolled) -> None:
    assert not journal_is_partitioned()
    now = now_ms()
    ids = [_entry(thing, now - days * DAY_MS, data=days).id for days in (400, 10, 0)]

    call_command("migrate", "data", "0004", verbosity=0)

    assert journal_is_partitioned()
    assert [_home(i) for i in ids] == [
        JOURNAL_DEFAULT,
        partition_name(day_start(now - 10 * DAY_MS)),
        partition_name(day_start(now)),
    ]
    assert list(JournalEntry.objects.filter(of=thing.plug.id).values_list("data", flat=True)) == [0, 10, 400]
    assert _entry(thing, now).id > max(ids)  # the sequence goes on where it was
