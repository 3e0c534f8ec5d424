"""The event journal partitioned by day of `received_at` on PostgreSQL (SQLite: no change).

PostgreSQL wants the partition key in every unique constraint, so the table's primary key
becomes (id, received_at); `id` still comes from one identity sequence, stays unique, and is
Django's pk (the model state does not change). The table is rebuilt: the rows are copied into
the new one, the days of the retention window each in a partition of its own, older rows into
the default partition, whence the next purge deletes them. See data/partitions.py.
"""

from django.conf import settings
from django.db import migrations

from data.partitions import DAY_MS, JOURNAL, JOURNAL_DEFAULT, journal_partitions_create
from plugboard.timestamps import now_ms

OLD = f"{JOURNAL}_unpartitioned"
PARTITIONED = f"{JOURNAL}_partitioned"
INDEXES = (
    'CREATE INDEX journal_of ON {table} ("of", id DESC)',
    "CREATE INDEX journal_received ON {table} USING brin (received_at)",
)


def _set_aside(schema_editor, name):
    """Rename the journal and its primary key and indexes out of the way of the new table's."""
    schema_editor.execute(f"ALTER TABLE {JOURNAL} RENAME TO {name}")
    schema_editor.execute(f"ALTER TABLE {name} RENAME CONSTRAINT {JOURNAL}_pkey TO {name}_pkey")
    for index in ("journal_of", "journal_received"):
        schema_editor.execute(f"ALTER INDEX {index} RENAME TO {name}_{index}")


def _move_rows(schema_editor, source):
    """Copy the rows, go on numbering where the old table's sequence stopped, drop the old table."""
    schema_editor.execute(f"INSERT INTO {JOURNAL} OVERRIDING SYSTEM VALUE SELECT * FROM {source}")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT greatest(pg_sequence_last_value(pg_get_serial_sequence('{source}', 'id')), "
            f"(SELECT max(id) FROM {source})), pg_get_serial_sequence('{JOURNAL}', 'id')"
        )
        last, sequence = cursor.fetchone()
    if last is not None:
        schema_editor.execute(f"SELECT setval('{sequence}', {int(last)})")
    schema_editor.execute(f"DROP TABLE {source}")
    # LIKE … INCLUDING IDENTITY named the new sequence apart from the old one; the old name back
    if sequence.rsplit(".", 1)[-1].strip('"') != f"{JOURNAL}_id_seq":
        schema_editor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {JOURNAL}_id_seq")


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _set_aside(schema_editor, OLD)
    schema_editor.execute(
        f"CREATE TABLE {JOURNAL} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY, "
        f"CONSTRAINT {JOURNAL}_pkey PRIMARY KEY (id, received_at)) PARTITION BY RANGE (received_at)"
    )
    for index in INDEXES:
        schema_editor.execute(index.format(table=JOURNAL))
    schema_editor.execute(f"CREATE TABLE {JOURNAL_DEFAULT} PARTITION OF {JOURNAL} DEFAULT")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(received_at) FROM {OLD}")
        oldest = cursor.fetchone()[0]
    now = now_ms()
    window = now - (settings.PLUGBOARD["JOURNAL_RETENTION_DAYS"] + 1) * DAY_MS
    journal_partitions_create(
        now=now,
        since=max(oldest, window) if oldest is not None else now,
        using=schema_editor.connection.alias,
        lock_timeout=None,
    )
    _move_rows(schema_editor, OLD)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _set_aside(schema_editor, PARTITIONED)
    schema_editor.execute(
        f"CREATE TABLE {JOURNAL} (LIKE {PARTITIONED} INCLUDING DEFAULTS INCLUDING IDENTITY, "
        f"CONSTRAINT {JOURNAL}_pkey PRIMARY KEY (id))"
    )
    for index in INDEXES:
        schema_editor.execute(index.format(table=JOURNAL))
    _move_rows(schema_editor, PARTITIONED)


class Migration(migrations.Migration):
    dependencies = [
        ("data", "0003_byte_order_keys"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition),
    ]
