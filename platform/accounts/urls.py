"""The accounts part's property dialect URLs (SPEC §6); included under `v3/` and
`v3/accounts/<acc>/` beside the apps' (an account itself: `plugboard.urls`, `v3/accounts/{acc}`).

A trailing slash is accepted too, since some clients add one.
"""

from django.urls import re_path

from plugboard.accounts import subaccount_api, user_api

USR = r"(?P<user_id>[^/]+)"

urlpatterns = [
    re_path(r"^users/?$", user_api.UserListView.as_view(), name="v3-users"),
    re_path(rf"^users/{USR}/?$", user_api.UserView.as_view(), name="v3-user"),
    re_path(rf"^users/{USR}/apikey/?$", user_api.UserKeyView.as_view(), name="v3-user-apikey"),
    re_path(r"^accounts/?$", subaccount_api.SubaccountListView.as_view(), name="v3-accounts"),
]
