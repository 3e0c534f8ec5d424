"""Celery tasks of the outbound app: outbox deliveries, kicked after commits and swept by beat."""

from __future__ import annotations

from celery import shared_task

from outbound.outbox import outbox_deliver


@shared_task(name="outbound.tasks.deliver", time_limit=120, soft_time_limit=100, ignore_result=True)
def deliver() -> int:
    """Deliver due outbox batches for up to 50 s (then the next kick or sweep goes on)."""
    return outbox_deliver(seconds=50.0)
