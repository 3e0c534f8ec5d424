from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "commands"
    verbose_name = "Commands and MQTT"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The layers below offer hooks; this is where commands plug into them, in one place:
        # the write service's command orders, the purge, the revocation receivers and /metrics.
        # Imported here, not at the top: apps.py loads before the app registry is ready, and
        # these modules import models.
        from commands import signals  # noqa: F401 - connects the receivers
        from commands.expiry import commands_purge
        from commands.metrics import CommandsCollector
        from commands.services import commands_create
        from data.expiry import purge_step_register
        from data.services import command_sink_register
        from plugboard.metrics import scrape_collector_register

        command_sink_register(lambda orders: commands_create(orders=orders))
        purge_step_register(commands_purge)
        scrape_collector_register(CommandsCollector())
