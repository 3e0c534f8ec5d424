import sqlite3
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class PlugboardConfig(AppConfig):
    name = "plugboard"
    label = "plugboard"
    verbose_name = "Accounts and credentials"
    default_auto_field = "django.db.models.BigAutoField"
    # `plugboard` is a namespace package mapped onto platform/ (no __init__.py, see SPEC §1),
    # so Django cannot infer its folder.
    path = str(Path(__file__).resolve().parent)

    def ready(self) -> None:
        # The Celery app must exist before tasks are sent (`platform/` has no __init__.py to
        # import it from, see SPEC §1).
        from plugboard import celery, schema  # noqa: F401 - the Celery app; the OpenAPI auth scheme

        connection_created.connect(_sqlite_parameter_limit, dispatch_uid="plugboard-sqlite-limit")
        # The points accepted and refused, by dialect and transport (plugboard.metrics); here,
        # once the app registry is ready: data.services imports models.
        from data.services import write_sink_register
        from plugboard.metrics import points_counted

        write_sink_register(points_counted)


def _sqlite_parameter_limit(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Let Django batch SQLite bulk inserts by SQLite's real bound-parameter limit.

    Django 5.2 assumes the limit of SQLite < 3.32 (999), which splits a 1,000-point journal
    append into a dozen INSERTs; current SQLite allows 32,766 or more.
    """
    if connection.vendor == "sqlite" and isinstance(connection.connection, sqlite3.Connection):
        connection.features.max_query_params = connection.connection.getlimit(
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
        )
