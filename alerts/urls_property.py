"""Alerts URLs of the property dialect (SPEC §12); included under `v3/` and `v3/accounts/<acc>/`."""

from django.urls import re_path

from alerts import api

ALR = r"(?P<alert_id>[^/]+)"
INC = r"(?P<incident_id>[^/]+)"

urlpatterns = [
    re_path(r"^alerts/?$", api.AlertListView.as_view(), name="v3-alerts"),
    re_path(rf"^alerts/{ALR}/?$", api.AlertView.as_view(), name="v3-alert"),
    re_path(r"^incidents/?$", api.IncidentListView.as_view(), name="v3-incidents"),
    re_path(rf"^incidents/{INC}/?$", api.IncidentView.as_view(), name="v3-incident"),
    re_path(rf"^incidents/{INC}/ack/?$", api.IncidentAckView.as_view(), name="v3-incident-ack"),
    re_path(
        r"^devices/(?P<ref>[^/]+)/activity/?$", api.DeviceActivityView.as_view(), name="v3-device-activity"
    ),
]
