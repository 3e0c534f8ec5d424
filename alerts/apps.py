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
        from alerts.activity import LAST_IN, LAST_OUT, activity_values
        from alerts.delivery import DELIVERERS
        from alerts.sink import alerts_sink
        from data.property_reads import builtin_reader_register
        from data.services import write_sink_register
        from outbound.outbox import deliverer_register

        write_sink_register(alerts_sink)
        builtin_reader_register((LAST_IN, LAST_OUT), activity_values)
        for kind, deliver, batch in DELIVERERS:
            deliverer_register(kind, deliver, batch=batch)
