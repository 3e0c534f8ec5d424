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
        from alerts.delivery import (
            EMAIL,
            MQTT,
            MQTT_OWN,
            WEBHOOK,
            email_deliver,
            mqtt_deliver,
            own_mqtt_deliver,
            webhook_deliver,
        )
        from alerts.sink import alerts_sink
        from data.property_reads import builtin_reader_register
        from data.services import write_sink_register
        from outbound.outbox import deliverer_register

        write_sink_register(alerts_sink)
        builtin_reader_register((LAST_IN, LAST_OUT), activity_values)
        # One notification per batch: each keeps its own delivery id across retries.
        deliverer_register(WEBHOOK, webhook_deliver, batch=1)
        deliverer_register(EMAIL, email_deliver, batch=1)
        deliverer_register(MQTT, mqtt_deliver, batch=1)
        deliverer_register(MQTT_OWN, own_mqtt_deliver, batch=100)
