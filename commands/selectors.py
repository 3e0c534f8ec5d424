"""Command look-ups (reads)."""

from __future__ import annotations

from django.db.models import QuerySet

from commands.models import Command
from devices.models import Plug


def commands_of(*, plug: Plug) -> QuerySet[Command]:
    """A plug's commands, newest first."""
    return Command.objects.filter(plug=plug).order_by("-created_at", "-id")
