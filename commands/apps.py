from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "commands"
    verbose_name = "Commands and MQTT"
    default_auto_field = "django.db.models.BigAutoField"
