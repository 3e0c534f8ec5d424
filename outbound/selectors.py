"""Outbox look-ups (reads) beside `outbound.outbox`'s own."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from outbound.models import OutboxMessage


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: messages not delivered yet (each counted up to the cap), the
    creation time of the oldest (epoch ms; None: nothing waits), and dead letters (up to the cap)."""

    pending: int
    oldest_created_at: int | None
    dead: int


def outbox_backlog(*, cap: int) -> Backlog:
    """The outbox's backlog in one query, bounded whatever it holds: the counts stop at `cap`
    (scans of the partial indexes on live and dead messages), the oldest is the first live id."""
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE NOT dead LIMIT %s) AS live),"  # noqa: S608 - the model's table
            f" (SELECT created_at FROM {table} WHERE NOT dead ORDER BY id LIMIT 1),"
            f" (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE dead LIMIT %s) AS gone)",
            [cap, cap],
        )
        pending, oldest, dead = cursor.fetchone()
    return Backlog(
        pending=int(pending), oldest_created_at=None if oldest is None else int(oldest), dead=int(dead)
    )
