"""The event journal's time partitions on PostgreSQL (SQLite keeps one plain table).

On PostgreSQL `data_journalentry` is partitioned by range of `received_at` (server time, ms),
one partition per UTC day, plus a default partition for whatever no day partition covers (a
server clock far off, rows migrated from before the partitions' first day). Retention then
drops whole days (`DROP TABLE`, a catalog change) instead of deleting row after row, and a
write never creates anything: the days ahead exist before it comes, and the default takes it
if not.

The purge keeps the partitions (`data.expiry.expiry_purge`), and so does every `migrate`
(`post_migrate`). A day goes when it lies wholly before the retention cutoff, so PostgreSQL
keeps an entry up to a day past `PLUGBOARD_JOURNAL_RETENTION_DAYS`; rows of the default
partition older than the cutoff go by `DELETE`, as on SQLite.

Every change is its own short transaction under a transaction-level advisory lock (two purges
at once: one does the work, the other skips it) and a `lock_timeout`: creating a partition
and dropping one take a lock on the journal that writes wait behind, so when a long read holds
the table the change gives up and the next purge retries, rather than stalling the writes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.backends.utils import CursorWrapper

from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)

JOURNAL = "data_journalentry"
JOURNAL_DEFAULT = f"{JOURNAL}_default"
DAY_MS = 86_400_000
# Days made ahead (a write past them still lands, in the default). Few: every partition adds
# to the planning of a journal read, which is not pruned by time.
DAYS_AHEAD = 3
LOCK_TIMEOUT = "2s"
_ADVISORY_KEY = 0x6A6F75726E616C  # "journal": serializes the partition changes of two purges
_BOUNDS = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class JournalPartition:
    """One partition: its table and the `received_at` range [start, end) it holds (the default
    holds what no other does, and has neither)."""

    name: str
    start: int | None
    end: int | None


def day_start(ms: int) -> int:
    """The start of the UTC day holding `ms`."""
    return ms - ms % DAY_MS


def partition_name(start: int) -> str:
    return f"{JOURNAL}_d{datetime.fromtimestamp(start / 1000, UTC):%Y%m%d}"


def journal_is_partitioned(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the journal is a partitioned table (PostgreSQL after migration 0004)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [JOURNAL])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def journal_partitions(*, using: str = DEFAULT_DB_ALIAS) -> list[JournalPartition]:
    """The journal's partitions, the default first, then the days in order."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [JOURNAL],
        )
        rows = cursor.fetchall()
    partitions = []
    for name, bound in rows:
        found = _BOUNDS.search(bound)
        if found:
            partitions.append(JournalPartition(name, int(found[1]), int(found[2])))
        else:  # "DEFAULT"
            partitions.append(JournalPartition(name, None, None))
    return sorted(partitions, key=lambda p: (p.start is not None, p.start or 0))


def _guarded(cursor: CursorWrapper, lock_timeout: str | None) -> bool:
    """Take the maintenance lock for this transaction (False: another purge holds it)."""
    if lock_timeout:
        cursor.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_ADVISORY_KEY])
    return bool(cursor.fetchone()[0])


def journal_partitions_create(
    *,
    now: int | None = None,
    since: int | None = None,
    days_ahead: int = DAYS_AHEAD,
    using: str = DEFAULT_DB_ALIAS,
    lock_timeout: str | None = LOCK_TIMEOUT,
) -> list[str]:
    """Create the day partitions from the day of `since` (default: today) through `days_ahead`
    days after today that do not exist yet; return their names. Rows the default partition
    holds for such a day move into it. A no-op unless the journal is partitioned."""
    if not journal_is_partitioned(using=using):
        return []
    now = now_ms() if now is None else now
    first = day_start(now if since is None else min(since, now))
    last = day_start(now) + days_ahead * DAY_MS
    have = {p.start for p in journal_partitions(using=using)}
    created = []
    for start in range(first, last + DAY_MS, DAY_MS):
        if start not in have and _partition_create(start, using=using, lock_timeout=lock_timeout):
            created.append(partition_name(start))
    if created:
        log.info("journal partitions created: %s", " ".join(created))
    return created


def _partition_create(start: int, *, using: str, lock_timeout: str | None) -> bool:
    connection = connections[using]
    name, end = partition_name(start), start + DAY_MS
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            if not _guarded(cursor, lock_timeout):
                return False
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is not None:
                return False  # another purge made it meanwhile
            # Made apart and then attached: ATTACH locks the journal less than CREATE … PARTITION
            # OF (writes go on), and checks only the default partition, which stays small.
            cursor.execute(f'CREATE TABLE "{name}" (LIKE {JOURNAL} INCLUDING DEFAULTS)')
            cursor.execute(
                f"WITH moved AS (DELETE FROM {JOURNAL_DEFAULT} WHERE received_at >= %s AND received_at < %s "
                f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
                [start, end],
            )
            cursor.execute(
                f'ALTER TABLE {JOURNAL} ATTACH PARTITION "{name}" FOR VALUES FROM ({start}) TO ({end})'
            )
    except OperationalError as exc:  # lock_timeout: writes keep landing in the default meanwhile
        log.warning("journal partition %s not created (next purge retries): %s", name, exc)
        return False
    return True


def journal_partitions_drop(
    *, cutoff: int, using: str = DEFAULT_DB_ALIAS, lock_timeout: str | None = LOCK_TIMEOUT
) -> int:
    """Drop the day partitions wholly older than `cutoff` (ms); return how many entries they
    held. The default partition stays (its old rows are for `DELETE`)."""
    if not journal_is_partitioned(using=using):
        return 0
    connection = connections[using]
    removed = 0
    for partition in journal_partitions(using=using):
        if partition.end is None or partition.end > cutoff:
            continue
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                if not _guarded(cursor, lock_timeout):
                    break
                cursor.execute("SELECT to_regclass(%s)", [partition.name])
                if cursor.fetchone()[0] is None:
                    continue  # another purge dropped it meanwhile
                cursor.execute(f'SELECT count(*) FROM "{partition.name}"')
                count = int(cursor.fetchone()[0])
                cursor.execute(f'DROP TABLE "{partition.name}"')
        except OperationalError as exc:
            log.warning("journal partition %s not dropped (next purge retries): %s", partition.name, exc)
            break
        removed += count
    return removed
