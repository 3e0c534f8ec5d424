from pathlib import Path

from django.apps import AppConfig


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
        from plugboard import celery  # noqa: F401
