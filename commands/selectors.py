"""Command look-ups (reads)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from commands.models import Command
from devices.models import Plug


def commands_of(*, plug: Plug) -> QuerySet[Command]:
    """A plug's commands, newest first."""
    return Command.objects.filter(plug=plug).order_by("-created_at", "-id")


def commands_by_state(*, cap: int) -> dict[str, int]:
    """How many commands are in each state, each counted up to `cap` (an index-only scan of
    `command_state` per state, bounded whatever the table holds): one query."""
    states = list(Command.State)
    table = connection.ops.quote_name(Command._meta.db_table)
    column = connection.ops.quote_name("state")
    counts = ", ".join(
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} = %s LIMIT %s) AS s{i})"
        for i in range(len(states))
    )
    params: list[str | int] = []
    for state in states:
        params += [state.value, cap]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}", params)  # noqa: S608 - names from the model, values bound
        row = cursor.fetchone()
    return {state.value: int(count) for state, count in zip(states, row, strict=True)}
