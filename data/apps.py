from django.apps import AppConfig


class DataConfig(AppConfig):
    name = "data"
    verbose_name = "Data points and journal"
    default_auto_field = "django.db.models.BigAutoField"
