"""The raw baselines the write and query benchmarks compare with: PostgreSQL COPY, and the
design's floor (what PostgreSQL alone spends on the two rows every accepted point is)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import testbed


def copy_points(conn: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY `(id, account_id, channel, of, at, data, expire_at)` rows into data_datapoint."""
    statement = 'COPY data_datapoint (id, account_id, channel, "of", at, data, expire_at) FROM STDIN'
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def remove_rows(
    platform: testbed.Platform, account_id: str, expected: int, label: str, tables: tuple[str, ...]
) -> None:
    """Check that a baseline stored `expected` points of `account_id`, then delete its rows from
    `tables` again (not timed)."""
    with platform.connect() as conn:
        stored = conn.execute(
            "SELECT count(*) FROM data_datapoint WHERE account_id = %s", [account_id]
        ).fetchone()
        for table in tables:
            conn.execute(f"DELETE FROM {table} WHERE account_id = %s", [account_id])
        conn.commit()
    if stored is None or stored[0] != expected:
        raise testbed.BenchError(f"{label} stored {stored} points, expected {expected}")
    with platform.connect(autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM {table}")


FLOOR_STREAMS = 2  # one per core
FLOOR_TABLES = ("data_datapoint", "data_journalentry")


FLOOR_ACCOUNT = "com-" + "f0" * 12


def two_row_floor(
    platform: testbed.Platform,
    count: int,
    channels: int,
    base_at: int,
    batch: int,
    source: str = "http",
    remove: bool = True,
) -> float:
    """The design's floor: what every accepted point costs PostgreSQL at the least, with no HTTP
    and no Python service. Per transaction of `batch` points, the data rows and their journal
    rows are COPYed in (SPEC §4 rule 2: two rows per point), from FLOOR_STREAMS connections at
    once (timed); then both are deleted again (not timed; with `remove=False` the caller does it
    with `remove_rows(platform, FLOOR_ACCOUNT, …)`, after its CPU meter). Returns seconds."""
    account_id = FLOOR_ACCOUNT
    of = "dev-" + "f0" * 12
    journal = (
        "COPY data_journalentry (account_id, received_at, event, source, credential, point_id, "
        'channel, "of", at, data, expire_at) FROM STDIN'
    )
    errors: list[BaseException] = []

    def stream(first: int) -> None:
        try:
            with platform.connect() as conn:
                for start in range(first * batch, count, FLOOR_STREAMS * batch):
                    rows = [
                        (
                            f"{0xF0 << 88 | i:024x}",
                            account_id,
                            f"bench/c{i % channels}",
                            of,
                            base_at + i,
                            str(i),
                            None,
                        )
                        for i in range(start, min(start + batch, count))
                    ]
                    copy_points(conn, rows)
                    with conn.cursor() as cur, cur.copy(journal) as copy:
                        for oid, account, channel, plug, at, data, expire in rows:
                            copy.write_row(
                                (account, base_at, "data", source, plug, oid, channel, plug, at, data, expire)
                            )
                    conn.commit()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(FLOOR_STREAMS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise testbed.BenchError(f"floor baseline failed: {errors[0]}")
    if remove:
        remove_rows(platform, account_id, count, "floor baseline", FLOOR_TABLES)
    return seconds
