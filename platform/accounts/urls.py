"""The accounts part's property dialect URLs (SPEC §6); included under `v3/` and
`v3/accounts/<acc>/` beside the apps' (an account itself: `plugboard.urls`, `v3/accounts/{acc}`).

A trailing slash is accepted too, since some clients add one.
"""

from django.urls import re_path

from plugboard.accounts import key_api, subaccount_api, user_api

REF = r"(?P<ref>[^/]+)"
KEY = r"(?P<key_id>[^/]+)"
USR = r"(?P<user_id>[^/]+)"

urlpatterns = [
    # A device's or an app's own key (its `auth`), and the account's API clients.
    re_path(rf"^apps/{REF}/apikey/?$", key_api.DeviceKeyView.as_view(), name="v3-app-apikey"),
    re_path(rf"^devices/{REF}/apikey/?$", key_api.DeviceKeyView.as_view(), name="v3-device-apikey"),
    re_path(r"^apiclients/?$", key_api.ApiClientListView.as_view(), name="v3-apiclients"),
    re_path(rf"^apiclients/{KEY}/?$", key_api.ApiClientView.as_view(), name="v3-apiclient"),
    re_path(rf"^apiclients/{KEY}/apikey/?$", key_api.ApiClientKeyView.as_view(), name="v3-apiclient-apikey"),
    # Users and sub-accounts.
    re_path(r"^users/?$", user_api.UserListView.as_view(), name="v3-users"),
    re_path(rf"^users/{USR}/?$", user_api.UserView.as_view(), name="v3-user"),
    re_path(rf"^users/{USR}/apikey/?$", user_api.UserKeyView.as_view(), name="v3-user-apikey"),
    re_path(r"^accounts/?$", subaccount_api.SubaccountListView.as_view(), name="v3-accounts"),
]
