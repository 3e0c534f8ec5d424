from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "commands"
    verbose_name = "Commands and MQTT"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from commands import signals  # noqa: F401 - connects the receivers
