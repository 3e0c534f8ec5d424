"""The raw baseline the write and query benchmarks compare with: PostgreSQL COPY."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def copy_points(conn: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY `(id, account_id, channel, of, at, data, expire_at)` rows into data_datapoint."""
    statement = 'COPY data_datapoint (id, account_id, channel, "of", at, data, expire_at) FROM STDIN'
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
