"""The store's raw PostgreSQL statements (COPY goes to psycopg's own cursor) fail the Django
way when the connection dies, so the API answers 503 and the pool drops the connection."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from data.store import journal_append, points_upsert, properties_set_latest
from devices.models import Property
from plugboard.identifiers import new_oid
from tests.support import database_url, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _kill_this_connection() -> None:
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER") or "postgres"
    dsn = f"host={host} port={port} user={user} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.parametrize("statement", ["points", "journal"])
def test_a_connection_killed_under_copy_is_djangos_operational_error(statement: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no COPY")
    _kill_this_connection()
    with pytest.raises(OperationalError):
        if statement == "points":
            points_upsert([(new_oid(), "com-x", "c", "dev-x", 1, json.dumps(1), None)])
        else:
            row = ("com-x", 1, "data", "http", "dev-x", new_oid(), "c", "dev-x", 1, "1", None)
            journal_append([row], [1])
    connection.close()


def test_writers_of_the_same_properties_lock_them_in_id_order(thing: Any) -> None:
    """Two server processes behind a balancer write one device's properties at once: each
    writer takes the rows in id order, so one waiting on a row already holds every row before
    it and the other can never hold one it needs (two join orders deadlocked)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer")
    first, last = sorted(
        Property.objects.create(plug=thing.plug, name=name, type="number").id for name in ("a", "b")
    )
    # The first row's newer version now lies after the last one's: a scan of the table meets the
    # last row first, as the UPDATE's join did when it deadlocked.
    Property.objects.filter(id=first).update(type="number")
    table = Property._meta.db_table
    lock = f"SELECT id FROM {table} WHERE id = %s FOR NO KEY UPDATE"
    with connection.cursor():
        url = database_url()
    with psycopg.connect(url) as other:
        other.execute(lock, [last])  # another writer's transaction holds the last row

        def write() -> None:
            try:
                with transaction.atomic():  # the rows given in the other order
                    properties_set_latest([(last, "1", 1), (first, "2", 1)])
            finally:
                connection.close()

        writer = threading.Thread(target=write)
        writer.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        waiting += "AND wait_event_type = 'Lock'"
        assert wait_for(lambda: other.execute(waiting).fetchone()[0] == 1), "the writer never waited"
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(lock + " NOWAIT", [first])  # the waiting writer holds the first row
        other.rollback()
        writer.join(timeout=10)
    assert list(
        Property.objects.filter(id__in=[first, last]).order_by("id").values_list("last_value", flat=True)
    ) == [2, 1]
