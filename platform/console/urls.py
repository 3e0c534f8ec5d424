"""The console's pages under /console/ (the live WebSocket route is in `plugboard.console.routing`)."""

from django.urls import path

from plugboard.console import fleet, keys, profiles, views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in_page, name="sign-in"),
    path("sign-out/", views.sign_out_page, name="sign-out"),
    path("staff/sign-in/", views.staff_sign_in_page, name="staff-sign-in"),
    path("accounts/", views.accounts_page, name="accounts"),
    path("plugs/", views.plugs_page, name="plugs"),
    path("plugs/<str:plug_id>/", views.plug_page, name="plug"),
    path("plugs/<str:plug_id>/status/", views.plug_status, name="plug-status"),
    path("plugs/<str:plug_id>/export/", views.plug_export, name="plug-export"),
    path("plugs/<str:plug_id>/key/", views.plug_key, name="plug-key"),
    path("plugs/<str:plug_id>/command/", views.plug_command, name="plug-command"),
    path(
        "plugs/<str:plug_id>/properties/<str:prop_id>/",
        views.property_settings,
        name="property-settings",
    ),
    path("incidents/", views.incidents_page, name="incidents"),
    path("incidents/<str:incident_id>/<str:action>/", views.incident_action, name="incident-action"),
    path("channels/", views.channels_page, name="channels"),
    path("keys/", keys.keys_page, name="keys"),
    path("keys/<str:key_id>/revoke/", keys.key_revoke_page, name="key-revoke"),
    path("keys/<str:key_id>/edit/", keys.key_edit_page, name="key-edit"),
    path("profiles/", profiles.profiles_page, name="profiles"),
    path("profiles/<str:profile_id>/", profiles.profile_page, name="profile"),
    path("profiles/<str:profile_id>/delete/", profiles.profile_delete_page, name="profile-delete"),
    path("profiles/<str:profile_id>/properties/", profiles.profile_property_page, name="profile-property"),
    path(
        "profiles/<str:profile_id>/properties/<str:property_id>/",
        profiles.profile_property_change_page,
        name="profile-property-change",
    ),
    path(
        "profiles/<str:profile_id>/properties/<str:property_id>/remove/",
        profiles.profile_property_remove_page,
        name="profile-property-remove",
    ),
    path("apps/", fleet.apps_page, name="apps"),
    path("users/", fleet.users_page, name="users"),
    path("users/<str:user_id>/", fleet.user_change_page, name="user-change"),
    path("subaccounts/", fleet.subaccounts_page, name="subaccounts"),
    path("subaccounts/leave/", fleet.subaccount_leave_page, name="subaccount-leave"),
    path("subaccounts/<str:account_id>/open/", fleet.subaccount_open_page, name="subaccount-open"),
]
