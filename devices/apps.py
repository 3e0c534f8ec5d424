from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Plugs and properties"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # What makes a remembered key secret wrong is heard in every process, serving or not.
        from devices import credential_cache  # noqa: F401
