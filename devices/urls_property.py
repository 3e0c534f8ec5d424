"""Property dialect management URLs (SPEC §6); included under `v3/` and `v3/accounts/<acc>/`.

A trailing slash is accepted too, since some clients add one.
"""

from django.urls import re_path

from devices import app_api, profile_api, property_by_id_api
from devices import property_api as views

REF = r"(?P<ref>[^/]+)"
PRP = r"(?P<prp>[^/]+)"

urlpatterns = [
    re_path(r"^devices/?$", views.DeviceListView.as_view(), name="v3-devices"),
    re_path(rf"^devices/{REF}/?$", views.DeviceView.as_view(), name="v3-device"),
    re_path(
        rf"^devices/{REF}/properties/?$", views.DevicePropertiesView.as_view(), name="v3-device-properties"
    ),
    re_path(
        rf"^devices/{REF}/properties/{PRP}/?$", views.DevicePropertyView.as_view(), name="v3-device-property"
    ),
    re_path(r"^properties/?$", views.OwnerPropertiesView.as_view(), name="v3-properties"),
    re_path(rf"^properties/{PRP}/?$", property_by_id_api.PropertyByIdView.as_view(), name="v3-property"),
    re_path(r"^deviceprofiles/?$", profile_api.ProfileListView.as_view(), name="v3-deviceprofiles"),
    re_path(rf"^deviceprofiles/{REF}/?$", profile_api.ProfileDetailView.as_view(), name="v3-deviceprofile"),
    re_path(r"^appprofiles/?$", profile_api.AppProfileListView.as_view(), name="v3-appprofiles"),
    re_path(rf"^appprofiles/{REF}/?$", profile_api.AppProfileDetailView.as_view(), name="v3-appprofile"),
    re_path(r"^apps/?$", app_api.AppListView.as_view(), name="v3-apps"),
    re_path(rf"^apps/{REF}/?$", app_api.AppView.as_view(), name="v3-app"),
    re_path(rf"^devices/{REF}/logs/?$", views.DeviceLogView.as_view(), name="v3-device-logs"),
]
