"""OpenAPI description of enrollment and plug management (channel dialect, `/iot/device…`) and
of the property dialect's management (`/v3/devices…`, properties, keys, API clients).

Documentation-only serializers: the views parse their bodies themselves. Applied with
`extend_schema_view` in `devices.channel_api`, `devices.property_api` and `plugboard.accounts.key_api`.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from devices.models import Plug
from devices.shapes.accounts import AccountSettings, SubaccountIn, UserChange, UserIn
from devices.shapes.base import RetentionAnswer
from devices.shapes.devices import AppAnswer, DeviceAnswer, DeviceChange, DeviceIn
from devices.shapes.keys import ApiClientAnswer, ApiClientChange, ApiClientIn, ApiKeyAnswer
from devices.shapes.profiles import ProfileAnswer, ProfileChange, ProfileIn
from devices.shapes.properties import PropertyAnswer, PropertyChange, PropertyIn
from plugboard.property_dialect import MAX_PAGE_SIZE
from plugboard.schema import (
    ACCOUNT_CREDENTIALS,
    ANY_CREDENTIALS,
    OR_NONE,
    AnyJson,
    StringOrList,
    channel_errors,
    example,
    json_body,
    path_param,
    property_errors,
    query,
)

PLUG = "dev-0123456789abcdef01234567"
PLUG_2 = "dev-76543210fedcba9876543210"
# Choice sets that share a field name get these component names (SPECTACULAR_SETTINGS
# ENUM_NAME_OVERRIDES), so a generated client's models read well.
PLUG_STATUSES = list(Plug.Status.values)
ACCOUNT_STATUSES = ["active", "suspended"]

# --- channel dialect: enrollment and plugs --------------------------------------------------------

_PERM = inline_serializer(
    "Perm",
    {
        "of": inline_serializer(
            "PermOf",
            {
                "r": serializers.ListField(child=serializers.CharField(), allow_null=True, required=False),
                "w": serializers.ListField(child=serializers.CharField(), allow_null=True, required=False),
            },
            required=False,
            help_text="plugs whose data this plug may read (r) / write (w); null = every plug",
        ),
        "ctrl": serializers.CharField(required=False, help_text="what a controller may do: r, w, rw"),
    },
    required=False,
)
# `pass` is a Python keyword: these bodies are written as field dicts.
PrototypeEnrollSerializer = inline_serializer(
    "PrototypeEnroll",
    {
        "name": serializers.CharField(max_length=64),
        "hwid": serializers.CharField(required=False),
        "pass": serializers.CharField(required=False, help_text="the control password a controller presents"),
        "perm": _PERM.__class__(required=False),
        "props": serializers.DictField(child=AnyJson(), required=False, help_text="free-form properties"),
    },
)
ProductionEnrollSerializer = inline_serializer(
    "ProductionEnroll",
    {
        "model": serializers.CharField(help_text="the production template's id"),
        "hwid": serializers.CharField(),
        "pass": serializers.CharField(help_text="the hwid's enrollment password"),
        "props": serializers.DictField(child=AnyJson(), required=False),
    },
)
ControllerEnrollSerializer = inline_serializer(
    "ControllerEnroll",
    {
        "model": serializers.CharField(help_text="the controller's production template"),
        "ctrl": serializers.CharField(help_text="the hwid of the thing to control"),
        "pass": serializers.CharField(help_text="the thing's control password"),
        "hwid": serializers.CharField(required=False, help_text="the controller's own hwid"),
        "name": serializers.CharField(required=False),
    },
)

ENROLLED = inline_serializer(
    "Enrolled", {"id": serializers.CharField(help_text="the plug id"), "auth": serializers.CharField()}
)


class ChannelDeviceAnswer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    hwid = serializers.CharField()
    kind = serializers.ChoiceField(Plug.Kind.values)
    origin = serializers.ChoiceField(Plug.Origin.values)
    status = serializers.ChoiceField(PLUG_STATUSES)
    perm = AnyJson()
    props = serializers.DictField(child=AnyJson())
    model = serializers.CharField(allow_null=True, help_text="the production template, if any")
    ctrl = serializers.ListField(child=serializers.CharField(), help_text="things a controller controls")
    connected = serializers.BooleanField()
    last_seen = serializers.IntegerField(allow_null=True, help_text="ms since the epoch")
    transport = serializers.ChoiceField(
        ["mqtt-tcp", "mqtt-ws"], allow_null=True, help_text="the MQTT transport while connected, else null"
    )
    date_created = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "ChannelDevice"


class ChannelDevicePatchSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    perm = _PERM.__class__(required=False)
    status = serializers.ChoiceField(PLUG_STATUSES, required=False)
    props = serializers.DictField(child=AnyJson(), required=False, help_text="merged; null removes a key")

    class Meta:
        ref_name = "ChannelDevicePatch"


_IDS = {
    "oneOf": [
        {"type": "string", "description": "a plug id or a CSV of plug ids"},
        {"type": "array", "items": {"type": "string"}},
    ]
}
_COUNT = OpenApiResponse(OpenApiTypes.INT, description="the number removed")
_PROPS_OBJECT = {"type": "object", "additionalProperties": {}}
_ENROLL = json_body(
    PolymorphicProxySerializer(
        component_name="ThingEnroll",
        serializers=[PrototypeEnrollSerializer, ProductionEnrollSerializer],
        resource_type_field_name=None,
    )
)

channel_enrollment = {
    "post": extend_schema(
        summary="Enroll a thing: a prototype (account credentials) or a production thing (none)",
        request=_ENROLL,
        auth=ANY_CREDENTIALS + OR_NONE,
        responses={200: ENROLLED, **channel_errors(409)},
        examples=[
            example("prototype", {"name": "boiler", "hwid": "AA:BB:CC", "props": {"room": "cellar"}}),
            example(
                "production", {"model": "tpl-0123456789abcdef01234567", "hwid": "SN-42", "pass": "s3cret"}
            ),
        ],
    ),
    "put": extend_schema(
        summary="Enroll a controller of a thing (or, with a controller's credentials, control one more)",
        request=json_body(ControllerEnrollSerializer),
        auth=ANY_CREDENTIALS + OR_NONE,
        responses={
            200: OpenApiResponse(ENROLLED, description="an existing controller"),
            201: OpenApiResponse(ENROLLED, description="a new controller"),
            **channel_errors(409),
        },
        examples=[
            example("controller", {"model": "tpl-0123456789abcdef01234567", "ctrl": "SN-42", "pass": "ctl"})
        ],
    ),
    "delete": extend_schema(
        summary="Unenroll plugs",
        request=json_body(_IDS),
        responses={200: _COUNT, **channel_errors()},
        examples=[example("ids", [PLUG, PLUG_2]), example("csv", f"{PLUG},{PLUG_2}")],
    ),
}
_REF = path_param("ref", "a plug id, or `_this_` for the caller's own plug")
channel_device = {
    "get": extend_schema(
        summary="A plug", parameters=[_REF], responses={200: ChannelDeviceAnswer, **channel_errors()}
    ),
    "patch": extend_schema(
        summary="Change a plug's name, perm, status or props",
        parameters=[_REF],
        request=json_body(ChannelDevicePatchSerializer),
        responses={200: ChannelDeviceAnswer, **channel_errors(409)},
        examples=[example("rename", {"name": "boiler-2", "props": {"room": None}})],
    ),
    "delete": extend_schema(
        summary="Release a controller's control of things",
        parameters=[_REF],
        request=json_body(
            inline_serializer(
                "ControlRelease", {"controlled": StringOrList(help_text="the things to release")}
            )
        ),
        responses={
            200: OpenApiResponse(OpenApiTypes.INT, description="controls released"),
            **channel_errors(),
        },
        examples=[example("release", {"controlled": [PLUG_2]})],
    ),
}
channel_props = {
    "get": extend_schema(
        summary="A plug's props",
        parameters=[_REF],
        responses={200: OpenApiResponse(_PROPS_OBJECT), **channel_errors()},
    ),
    "patch": extend_schema(
        summary="Merge into a plug's props (a null value removes the key)",
        parameters=[_REF],
        request=json_body(_PROPS_OBJECT),
        responses={200: OpenApiResponse(_PROPS_OBJECT, description="the props now"), **channel_errors()},
        examples=[example("merge", {"room": "attic", "old": None})],
    ),
    "delete": extend_schema(
        summary="Remove every prop", parameters=[_REF], responses={200: _COUNT, **channel_errors()}
    ),
}
_KEY = path_param("key", "the prop's key")
channel_prop = {
    "get": extend_schema(
        summary="One prop's value",
        parameters=[_REF, _KEY],
        responses={
            200: OpenApiResponse({"description": "any JSON"}, description="the value"),
            **channel_errors(),
        },
    ),
    "patch": extend_schema(
        summary="Set one prop (a JSON null removes it)",
        parameters=[_REF, _KEY],
        request=json_body({"description": "the prop's new value: any JSON (null removes it)"}),
        responses={200: OpenApiResponse(_PROPS_OBJECT, description="the props now"), **channel_errors()},
        examples=[example("value", {"floor": 2})],
    ),
    "delete": extend_schema(
        summary="Remove one prop",
        parameters=[_REF, _KEY],
        responses={
            200: OpenApiResponse(OpenApiTypes.INT, description="1, or 0 if absent"),
            **channel_errors(),
        },
    ),
}

# --- property dialect: management ---------------------------------------------------------------


def page_of(item: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """The property dialect's page `{total, itemCount, numOfPages, pageNo, skip, results}`."""
    return inline_serializer(
        name,
        {
            "total": serializers.IntegerField(),
            "itemCount": serializers.IntegerField(),
            "numOfPages": serializers.IntegerField(),
            "pageNo": serializers.IntegerField(),
            "skip": serializers.IntegerField(),
            "results": item(many=True),
        },
    )


PAGE_PARAMETERS = [
    query("pageSize", int, f"items a page, 1..{MAX_PAGE_SIZE} (default 25)"),
    query("pageNo", int, "the page, from 1"),
]
DEVICE_REF = path_param("ref", "a device id or name, or `_this_` for a device key's own device")
PROPERTY_REF = path_param("prp", "a property id (`_prp_…`) or name")
KEY_REF = path_param("key_id", "an API client id (`_key_…`)")
# Regeneration reads no body: whatever is sent is ignored.
NO_BODY = json_body({"type": "object", "description": "ignored (nothing to send)"})
_LOG_ENTRY = inline_serializer(
    "DeviceLogEntry",
    {
        "id": serializers.IntegerField(),
        "t": serializers.CharField(allow_null=True),
        "dateCreated": serializers.CharField(allow_null=True),
        "source": serializers.CharField(),
        "property": serializers.CharField(allow_blank=True, allow_null=True),
        "code": serializers.CharField(allow_blank=True, allow_null=True),
        "message": serializers.CharField(allow_blank=True),
    },
)
REMOVED = inline_serializer("Removed", {"nrOfItems": serializers.IntegerField()})
_DEVICE_EXAMPLE = {
    "name": "boiler",
    "friendlyName": "Boiler",
    "tags": ["cellar"],
    "location": {"zone": "Europe/Rome", "geo": {"lat": 45.46, "lon": 9.19}},
}
_PROPERTY_EXAMPLE = {"name": "temperature", "type": "number", "access": "public", "retention": "30d"}

device_list = {
    "get": extend_schema(
        summary="The devices the caller may see",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(DeviceAnswer, "DevicePage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create a device",
        request=json_body(DeviceIn),
        responses={201: DeviceAnswer, **property_errors(409)},
        examples=[example("device", _DEVICE_EXAMPLE)],
    ),
}
device = {
    "get": extend_schema(
        summary="A device", parameters=[DEVICE_REF], responses={200: DeviceAnswer, **property_errors()}
    ),
    "put": extend_schema(
        summary="Change a device (the fields the body names)",
        parameters=[DEVICE_REF],
        request=json_body(DeviceChange),
        responses={200: DeviceAnswer, **property_errors(409)},
        examples=[example("disable", {"status": "disabled", "description": "off for the winter"})],
    ),
    "delete": extend_schema(
        summary="Remove a device and its data",
        parameters=[DEVICE_REF],
        responses={200: REMOVED, **property_errors()},
    ),
}
_PROPERTY_PAGE = page_of(PropertyAnswer, "PropertyPage")
device_properties = {
    "get": extend_schema(
        summary="A device's properties",
        parameters=[DEVICE_REF, *PAGE_PARAMETERS],
        responses={200: _PROPERTY_PAGE, **property_errors()},
    ),
    "post": extend_schema(
        summary="Define a property of a device",
        parameters=[DEVICE_REF],
        request=json_body(PropertyIn),
        responses={201: PropertyAnswer, **property_errors(409)},
        examples=[example("property", _PROPERTY_EXAMPLE)],
    ),
}
_OWNER = query("owner", str, "the device (or ownerId in the body)")
owner_properties = {
    "get": extend_schema(
        summary="The properties of the device named by owner",
        parameters=[_OWNER, *PAGE_PARAMETERS],
        responses={200: _PROPERTY_PAGE, **property_errors()},
    ),
    "post": extend_schema(
        summary="Define a property of the device named by owner (query) or ownerId (body)",
        parameters=[_OWNER],
        request=json_body(PropertyIn),
        responses={201: PropertyAnswer, **property_errors(409)},
        examples=[example("property", {**_PROPERTY_EXAMPLE, "ownerId": PLUG})],
    ),
}
device_property = {
    "get": extend_schema(
        summary="A property",
        parameters=[DEVICE_REF, PROPERTY_REF],
        responses={200: PropertyAnswer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Replace a property's settings (what the body leaves out goes back to its default)",
        parameters=[DEVICE_REF, PROPERTY_REF],
        request=json_body(PropertyChange),
        responses={200: PropertyAnswer, **property_errors(409)},
        examples=[example("settings", {"type": "number", "access": "public", "retention": "7d"})],
    ),
    "patch": extend_schema(
        summary="Change the property settings the body names",
        parameters=[DEVICE_REF, PROPERTY_REF],
        request=json_body(PropertyChange),
        responses={200: PropertyAnswer, **property_errors(409)},
        examples=[example("retention", {"retention": {"type": "historical", "lifetime": "90d"}})],
    ),
}
PROPERTY_ID = path_param("prp", "a property id (`_prp_…`) of a device or of a device profile")
property_by_id = {
    "get": extend_schema(
        summary="A property by id, a device's or a device profile's",
        parameters=[PROPERTY_ID],
        responses={200: PropertyAnswer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change the property settings the body names (a profile's reach its devices)",
        parameters=[PROPERTY_ID],
        request=json_body(PropertyChange),
        responses={200: PropertyAnswer, **property_errors(409)},
        examples=[example("boundaries", {"boundaries": {"min": 0, "max": 100}})],
    ),
    "patch": extend_schema(
        summary="Change the property settings the body names",
        parameters=[PROPERTY_ID],
        request=json_body(PropertyChange),
        responses={200: PropertyAnswer, **property_errors(409)},
        examples=[example("retention", {"retention": "30d"})],
    ),
    "delete": extend_schema(
        summary="Remove a property: a profile's declaration, or a device's own (its points stay)",
        parameters=[PROPERTY_ID],
        responses={200: REMOVED, **property_errors(409)},
    ),
}
device_log = {
    "get": extend_schema(
        summary="The device's log (rejected writes and other notices), newest first",
        parameters=[DEVICE_REF, *PAGE_PARAMETERS],
        responses={200: page_of(_LOG_ENTRY.__class__, "DeviceLogPage"), **property_errors()},
    ),
}
device_key = {
    "get": extend_schema(
        summary="The device's key, with its secret (the account, or the device itself)",
        parameters=[DEVICE_REF],
        responses={200: ApiKeyAnswer, **property_errors()},
    ),
    "post": extend_schema(
        summary="Make a new key for the device (the old secret stops working)",
        parameters=[DEVICE_REF],
        request=NO_BODY,
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiKeyAnswer, **property_errors()},
        examples=[example("nothing", {})],
    ),
}
apiclient_list = {
    "get": extend_schema(
        summary="The account's API clients",
        parameters=PAGE_PARAMETERS,
        auth=ACCOUNT_CREDENTIALS,
        responses={200: page_of(ApiClientAnswer, "ApiClientPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create an API client (its secret is shown this once)",
        request=json_body(ApiClientIn),
        auth=ACCOUNT_CREDENTIALS,
        responses={201: ApiClientAnswer, **property_errors()},
        examples=[
            example(
                "reader",
                {"name": "dashboard", "scope": ["device:read-data"], "context": {"type": "account"}},
            )
        ],
    ),
}
apiclient = {
    "get": extend_schema(
        summary="An API client",
        parameters=[KEY_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiClientAnswer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change an API client (the fields the body names; the secret stays)",
        parameters=[KEY_REF],
        request=json_body(ApiClientChange),
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiClientAnswer, **property_errors()},
        examples=[example("reader", {"scope": ["device:read-data"], "rateLimit": 600})],
    ),
    "delete": extend_schema(
        summary="Revoke an API client",
        parameters=[KEY_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: REMOVED, **property_errors()},
    ),
}
apiclient_key = {
    "get": extend_schema(
        summary="An API client's key (secret withheld)",
        parameters=[KEY_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiKeyAnswer, **property_errors()},
    ),
    "post": extend_schema(
        summary="Regenerate an API client's secret",
        parameters=[KEY_REF],
        request=NO_BODY,
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiKeyAnswer, **property_errors()},
        examples=[example("nothing", {})],
    ),
}


_PLAN = inline_serializer(
    "AccountPlan",
    {"type": serializers.CharField(), "expiresAt": serializers.CharField(allow_null=True)},
    allow_null=True,
    help_text="always null: no plans here",
)


class AccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    friendlyName = serializers.CharField()
    email = serializers.CharField(
        allow_null=True, help_text="null for a sub-account made without an administrator"
    )
    status = serializers.ChoiceField(ACCOUNT_STATUSES)
    plan = _PLAN.__class__(allow_null=True)
    locked = serializers.BooleanField()
    ownerId = serializers.CharField(
        allow_null=True, help_text="the parent of a sub-account; null for a top account"
    )
    tags = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(allow_blank=True)
    defaultRetention = RetentionAnswer(
        allow_null=True, help_text="the expiry of points with none of their own; null: kept"
    )
    dateCreated = serializers.CharField(allow_null=True)
    dateModified = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "Account"


_ACC = path_param("acc", "the caller's account id, `_this_`, or the id of one of its sub-accounts")
account = {
    "get": extend_schema(
        summary="The caller's account, or one of its sub-accounts",
        parameters=[_ACC],
        responses={200: AccountSerializer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change the account (the fields the body names; null clears defaultRetention)",
        parameters=[_ACC],
        request=json_body(AccountSettings),
        auth=ACCOUNT_CREDENTIALS,
        responses={200: AccountSerializer, **property_errors()},
        examples=[example("default retention", {"defaultRetention": "90d", "friendlyName": "Acme"})],
    ),
    "patch": extend_schema(
        summary="Change the account (the fields the body names)",
        parameters=[_ACC],
        request=json_body(AccountSettings),
        auth=ACCOUNT_CREDENTIALS,
        responses={200: AccountSerializer, **property_errors()},
        examples=[example("no default retention", {"defaultRetention": None})],
    ),
    "delete": extend_schema(
        summary="Delete a sub-account and all it holds (its parent only; an account cannot delete itself)",
        parameters=[_ACC, query("hard", bool, "accepted and ignored: a deletion always removes everything")],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: REMOVED, **property_errors()},
    ),
}


PROFILE_REF = path_param("ref", "a device profile id (`_dpf_…`) or name (case-insensitive)")
profile_list = {
    "get": extend_schema(
        summary="The account's device profiles",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(ProfileAnswer, "DeviceProfilePage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create a device profile (its properties: POST /v3/properties with ownerId)",
        request=json_body(ProfileIn),
        responses={201: ProfileAnswer, **property_errors(409)},
        examples=[example("profile", {"name": "thermostat", "vendorName": "Acme", "tags": ["heating"]})],
    ),
}
profile_detail = {
    "get": extend_schema(
        summary="A device profile",
        parameters=[PROFILE_REF],
        responses={200: ProfileAnswer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change a device profile (the fields the body names)",
        parameters=[PROFILE_REF],
        request=json_body(ProfileChange),
        responses={200: ProfileAnswer, **property_errors(409)},
        examples=[example("describe", {"description": "wall thermostats", "productName": "T-1"})],
    ),
    "delete": extend_schema(
        summary="Remove a device profile (refused while devices use it)",
        parameters=[PROFILE_REF],
        responses={200: REMOVED, **property_errors(409)},
    ),
}

# --- app profiles and apps (one model and one set of views with device profiles and devices) ---

APP_PROFILE_REF = path_param("ref", "an app profile id (`_apf_…`) or name (case-insensitive)")
appprofile_list = {
    "get": extend_schema(
        summary="The account's app profiles",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(ProfileAnswer, "AppProfilePage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create an app profile (its properties: POST /v3/properties with ownerId)",
        request=json_body(ProfileIn),
        responses={201: ProfileAnswer, **property_errors(409)},
        examples=[example("app profile", {"name": "building-controller", "version": "1.0"})],
    ),
}
appprofile_detail = {
    "get": extend_schema(
        summary="An app profile",
        parameters=[APP_PROFILE_REF],
        responses={200: ProfileAnswer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change an app profile (the fields the body names)",
        parameters=[APP_PROFILE_REF],
        request=json_body(ProfileChange),
        responses={200: ProfileAnswer, **property_errors(409)},
        examples=[example("describe", {"description": "one per building"})],
    ),
    "delete": extend_schema(
        summary="Remove an app profile (refused while apps use it)",
        parameters=[APP_PROFILE_REF],
        responses={200: REMOVED, **property_errors(409)},
    ),
}


APP_REF = path_param("ref", "an app id or name (an app is a controller plug)")
app_list = {
    "get": extend_schema(
        summary="The apps the caller may see",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(AppAnswer, "AppPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create an app (a controller plug), from an app profile",
        request=json_body(DeviceIn),
        responses={201: AppAnswer, **property_errors(409)},
        examples=[example("app", {"name": "hvac-controller", "profile": "building-controller"})],
    ),
}
app = {
    "get": extend_schema(
        summary="An app", parameters=[APP_REF], responses={200: AppAnswer, **property_errors()}
    ),
    "put": extend_schema(
        summary="Change an app (the fields the body names)",
        parameters=[APP_REF],
        request=json_body(DeviceChange),
        responses={200: AppAnswer, **property_errors(409)},
        examples=[example("rename", {"friendlyName": "HVAC"})],
    ),
    "delete": extend_schema(
        summary="Remove an app and its data",
        parameters=[APP_REF],
        responses={200: REMOVED, **property_errors()},
    ),
}


# --- users and sub-accounts -------------------------------------------------------------------

ROLE_WORDS = ["admin", "developer", "viewer"]


class UserSerializer(serializers.Serializer):
    id = serializers.CharField()
    accountId = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField()
    status = serializers.ChoiceField(["active", "disabled"])
    role = serializers.ChoiceField(ROLE_WORDS)
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    locale = serializers.CharField(allow_null=True)
    timezone = serializers.CharField(allow_null=True)
    prefs = serializers.JSONField(allow_null=True)
    avatarUrl = serializers.CharField(allow_null=True)
    dateCreated = serializers.CharField(allow_null=True)
    dateModified = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "User"


_NEW_KEY = inline_serializer(
    "NewUserKey",
    {"id": serializers.CharField(), "secret": serializers.CharField(help_text="shown this once")},
)


class UserMadeSerializer(UserSerializer):
    apiKey = _NEW_KEY.__class__(help_text="the user's key; its secret is shown this once")

    class Meta:
        ref_name = "UserMade"


class SubaccountMadeSerializer(AccountSerializer):
    user = UserSerializer(allow_null=True, help_text="the sub-account's administrator (null without one)")
    apiKey = _NEW_KEY.__class__(
        allow_null=True, help_text="the administrator's key; its secret is shown this once (null without one)"
    )

    class Meta:
        ref_name = "SubaccountMade"


USER_REF = path_param("user_id", "a user id (`_usr_…`)")
user_list = {
    "get": extend_schema(
        summary="The account's users",
        parameters=PAGE_PARAMETERS,
        auth=ACCOUNT_CREDENTIALS,
        responses={200: page_of(UserSerializer, "UserPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create a user and its user key (the secret is shown this once)",
        request=json_body(UserIn),
        auth=ACCOUNT_CREDENTIALS,
        responses={201: UserMadeSerializer, **property_errors(409)},
        examples=[example("developer", {"email": "dev@example.com", "role": "developer", "name": "Dev"})],
    ),
}
user = {
    "get": extend_schema(
        summary="A user",
        parameters=[USER_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: UserSerializer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change a user (the fields the body names)",
        parameters=[USER_REF],
        request=json_body(UserChange),
        auth=ACCOUNT_CREDENTIALS,
        responses={200: UserSerializer, **property_errors(409)},
        examples=[example("viewer", {"role": "viewer"})],
    ),
    "delete": extend_schema(
        summary="Remove a user and its key",
        parameters=[USER_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: REMOVED, **property_errors()},
    ),
}
user_key = {
    "get": extend_schema(
        summary="A user's key (secret withheld)",
        parameters=[USER_REF],
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiKeyAnswer, **property_errors()},
    ),
    "post": extend_schema(
        summary="Regenerate a user's key (the old secret stops working)",
        parameters=[USER_REF],
        request=NO_BODY,
        auth=ACCOUNT_CREDENTIALS,
        responses={200: ApiKeyAnswer, **property_errors()},
        examples=[example("nothing", {})],
    ),
}
subaccount_list = {
    "get": extend_schema(
        summary="The account's sub-accounts (direct ones)",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(AccountSerializer, "AccountPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create a sub-account with its administrator (whose key's secret is shown this once)",
        request=json_body(SubaccountIn),
        auth=ACCOUNT_CREDENTIALS,
        responses={201: SubaccountMadeSerializer, **property_errors(409)},
        examples=[
            example(
                "sub-account",
                {
                    "name": "acme-eu",
                    "friendlyName": "Acme EU",
                    "user": {"email": "eu@acme.example", "role": "admin"},
                },
            )
        ],
    ),
}
