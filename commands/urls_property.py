"""Property dialect URLs of commands (SPEC §6); included under `v3/` and `v3/accounts/<acc>/`."""

from django.urls import re_path

from commands import property_api as views

REF = r"(?P<ref>[^/]+)"

urlpatterns = [
    re_path(rf"^devices/{REF}/commands/?$", views.DeviceCommandsView.as_view(), name="v3-device-commands"),
]
