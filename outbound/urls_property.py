"""Data connector URLs (SPEC §13); included under `v3/` and `v3/accounts/<acc>/`."""

from django.urls import re_path

from outbound import connector_api as views

APP = r"apps/(?P<ref>[^/]+)/dataconnectors"
ID = r"(?P<connector_id>[^/]+)"

urlpatterns = [
    re_path(rf"^{APP}/?$", views.ConnectorListView.as_view(), name="v3-dataconnectors"),
    re_path(rf"^{APP}/{ID}/?$", views.ConnectorView.as_view(), name="v3-dataconnector"),
    re_path(rf"^{APP}/{ID}/test/?$", views.ConnectorTestView.as_view(), name="v3-dataconnector-test"),
    re_path(rf"^{APP}/{ID}/deadletters/?$", views.DeadLetterListView.as_view(), name="v3-dataconnector-dead"),
    re_path(rf"^{APP}/{ID}/replay/?$", views.ReplayView.as_view(), name="v3-dataconnector-replay"),
]
