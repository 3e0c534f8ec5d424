"""The store's raw PostgreSQL statements (COPY goes to psycopg's own cursor) fail the Django
way when the connection dies, so the API answers 503 and the pool drops the connection."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import OperationalError, connection

from data.store import journal_append, points_upsert
from plugboard.identifiers import new_oid

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
