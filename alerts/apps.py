from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts, incidents and device activity (SPEC §12)."""

    name = "alerts"
    verbose_name = "Alerts and device activity"
    default_auto_field = "django.db.models.BigAutoField"
