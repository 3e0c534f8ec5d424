from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate

from data.partitions import journal_partitions_create


class DataConfig(AppConfig):
    name = "data"
    verbose_name = "Data points and journal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from data import signals  # noqa: F401  (registers the receivers)

        post_migrate.connect(_journal_partitions_ahead, sender=self)


def _journal_partitions_ahead(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """The journal's days ahead exist as soon as the schema does (PostgreSQL; a no-op elsewhere)."""
    journal_partitions_create(using=using)
