"""The commands' part of the TTL purge (SPEC §8), registered with `data.expiry`."""

from __future__ import annotations

from commands.models import Command
from data.expiry import delete_in_batches


def commands_purge(now: int, journal_cutoff: int, batch: int) -> dict[str, int]:
    """Undelivered commands past their expiry become `expired` (visible through the API for the
    journal's retention), then go."""
    expired = Command.objects.filter(
        state__in=[Command.State.PENDING, Command.State.SENT], expire_at__lte=now
    ).update(state=Command.State.EXPIRED)
    removed = delete_in_batches(Command._meta.db_table, "expire_at < %s", [journal_cutoff], batch)
    return {"commands_expired": expired, "commands": removed}
