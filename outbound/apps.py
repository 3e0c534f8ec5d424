from django.apps import AppConfig


class OutboundConfig(AppConfig):
    """What leaves the platform: the durable outbox, data connectors, MQTT mirroring (SPEC §13)."""

    name = "outbound"
    verbose_name = "Outbound delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Where outbound plugs into the layers below: the write service's sink (connectors queue
        # the points they forward in the write's transaction), the outbox's deliverers, and the
        # outbox's backlog in /metrics.
        # Imported here, not at the top: these modules import models.
        from data.services import write_sink_register
        from outbound.connectors import connectors_sink
        from outbound.delivery import deliverers_register
        from outbound.metrics import OutboxCollector
        from plugboard.metrics import scrape_collector_register

        write_sink_register(connectors_sink)
        deliverers_register()
        scrape_collector_register(OutboxCollector())
