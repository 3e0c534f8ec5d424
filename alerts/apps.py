from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts, incidents and device activity (SPEC §12)."""

    name = "alerts"
    verbose_name = "Alerts and device activity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: apps.py loads before the app registry is ready, and
        # these modules import models. The write sink evaluates alerts and moves due times.
        from alerts import signals  # noqa: F401 - connects the receivers
        from alerts.sink import alerts_sink
        from data.services import write_sink_register

        write_sink_register(alerts_sink)
