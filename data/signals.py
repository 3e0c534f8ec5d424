"""An account removed (by its parent, or the admin) takes its data with it.

Data points and journal entries carry a plain `account_id` (no foreign key: the hot write path
checks none), so the database's cascade does not reach them; this does, once the account's row
is gone. A plug removed alone keeps its published points (history of the account).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from data.models import DataPoint, JournalEntry
from plugboard.models import Account


@receiver(post_delete, sender=Account, dispatch_uid="data-of-removed-account")
def _account_deleted(sender: Any, instance: Account, **kwargs: Any) -> None:
    DataPoint.objects.filter(account_id=instance.id).delete()
    JournalEntry.objects.filter(account_id=instance.id).delete()
