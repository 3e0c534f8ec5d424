from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Plugs and properties"
    default_auto_field = "django.db.models.BigAutoField"
