"""Celery tasks of the alerts app (scheduled by beat, see CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from alerts.activity import activity_scan


@shared_task(name="alerts.tasks.scan_activity", time_limit=30, soft_time_limit=20)
def scan_activity() -> int:
    """Turn the watched devices that fell silent `inactive`; how many turned."""
    return activity_scan()
