"""Celery tasks of the outbound app: outbox deliveries, kicked after commits and swept by beat.
The task is defined beside what it runs (`outbound.outbox.deliver`, kicked from there)."""

from __future__ import annotations

from outbound.outbox import deliver

__all__ = ["deliver"]
