"""Celery tasks of the data app (scheduled by beat, see CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from data.expiry import expiry_purge
from data.rollups import rollups_refresh


@shared_task(name="data.tasks.purge_expired", time_limit=300, soft_time_limit=240)
def purge_expired() -> dict[str, int]:
    """Purge expired points, old journal entries and expired commands; report the counts."""
    return expiry_purge()


@shared_task(name="data.tasks.refresh_rollups", time_limit=300, soft_time_limit=240)
def refresh_rollups() -> int:
    """Recompute the rollups of the minutes written since the last refresh; how many marks."""
    return rollups_refresh()
