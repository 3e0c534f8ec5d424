from django.apps import AppConfig


class OutboundConfig(AppConfig):
    """What leaves the platform: the durable outbox, data connectors, MQTT mirroring (SPEC §13)."""

    name = "outbound"
    verbose_name = "Outbound delivery"
    default_auto_field = "django.db.models.BigAutoField"
