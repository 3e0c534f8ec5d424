"""Devices and apps on the wire (SPEC §6 "Management", "Fleets"): a device's create and change
bodies (an app's too: an app is a controller plug) and the device and app answers. Connio's
`{zone?, geo?: {lat, lon, alt?}}` location maps onto CloudPlugs' `{x: lon, y: lat, z: alt}`
here; the fields Plugboard keeps for Connio alone (`period`, `customIds`, the annotate flags,
`locked`, a location's zone) are the plug's v3 extras."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rest_framework import serializers

from devices.models import Plug
from devices.services.fields import LOCATION, NAME_RE, V3_KEY
from devices.services.management import KEEP, DeviceFields
from devices.shapes.base import READ_ONLY, Answer, Body, Flag, Moment, Number, Text, Whole, Word
from plugboard.parsers import MAX_INT
from plugboard.schema import AnyJson

# A plug's status in v3 words: `ok` is what Connio calls `enabled`.
STATUS_TO_V3: dict[str, str] = {
    Plug.Status.OK: "enabled",
    Plug.Status.DISABLED: "disabled",
    Plug.Status.DEBUG: "debug",
}
STATUS_FROM_V3 = {v3: plug for plug, v3 in STATUS_TO_V3.items()}
V3_STATUSES = sorted(STATUS_FROM_V3)
# What a device shows for the v3 extras nobody has set.
DEVICE_DEFAULTS: dict[str, Any] = {
    "profileId": None,
    "customIds": {},
    "period": 0,  # Connio's default: not watched (SPEC §12)
    "annotateWithLoc": False,
    "annotateWithMeta": False,
    "locked": False,
}
FLAGS = ("annotateWithLoc", "annotateWithMeta", "locked")


class Name(serializers.RegexField):
    """A plug's or a profile's name: a JSON string of the rule `devices.services.fields` checks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NAME_RE.pattern, max_length=64, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Seconds(Whole):
    """A whole number of seconds; an integral JSON float (`60.0`) is read as one too."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        return super().to_internal_value(data)


# --- bodies -----------------------------------------------------------------------------------------


class GeoIn(serializers.Serializer):
    lat = Number(min_value=-90, max_value=90)
    lon = Number(min_value=-180, max_value=180)
    alt = Number(required=False, allow_null=True)

    class Meta:
        ref_name = "GeoIn"


class LocationIn(serializers.Serializer):
    """Connio's location, read as (CloudPlugs location or None, zone or None)."""

    zone = Text(required=False, allow_null=True, allow_blank=True)
    geo = GeoIn(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> Any:
        geo = attrs.get("geo")
        if geo is None:
            return None, attrs.get("zone")
        # CloudPlugs' x is in [-180, 180): 180° east is the same meridian as 180° west.
        place: dict[str, Any] = {"x": -180 if geo["lon"] == 180 else geo["lon"], "y": geo["lat"]}
        if geo.get("alt") is not None:
            place["z"] = geo["alt"]
        return place, attrs.get("zone")

    class Meta:
        ref_name = "LocationIn"


class DeviceIn(Body):
    """`POST /v3/devices` and `/v3/apps`: read into `DeviceFields` (`fields_of`)."""

    # Misspellings the Connio Python SDK sends (`loation` on create, `custom_ids` on update) are
    # read as the fields they mean.
    echoed = READ_ONLY

    name = Name()
    friendlyName = Text(
        required=False, allow_blank=True, allow_null=True, max_length=120, source="friendly_name"
    )
    description = Text(required=False, allow_blank=True, allow_null=True)
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    location = LocationIn(required=False, allow_null=True)
    status = Word(
        {v3: STATUS_FROM_V3[v3] for v3 in V3_STATUSES},
        aliases={"disabed": Plug.Status.DISABLED},  # the Connio Python SDK's constant says so
        required=False,
    )
    profile = Text(
        required=False, allow_blank=True, allow_null=True, help_text="Connio's other word for profileId"
    )
    profileId = Text(
        required=False, allow_blank=True, allow_null=True, source="profile", help_text="a profile id or name"
    )
    customIds = serializers.DictField(child=AnyJson(), required=False, allow_null=True)
    period = Seconds(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_INT,
        help_text="seconds without data before the device is inactive; 0: not watched",
    )
    annotateWithLoc = Flag(required=False, allow_null=True)
    annotateWithMeta = Flag(required=False, allow_null=True)
    locked = Flag(required=False, allow_null=True)
    apps = serializers.ListField(child=Text(), required=False, allow_null=True, help_text="controller ids")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and ("loation" in data or "custom_ids" in data):
            data = {{"loation": "location", "custom_ids": "customIds"}.get(k, k): v for k, v in data.items()}
        return super().to_internal_value(data)

    @classmethod
    def fields_of(cls, request: Any) -> DeviceFields:
        body = cls.read(request)
        extras: dict[str, Any] = {}
        profile: Any = KEEP
        if "profile" in body:
            profile = body["profile"] or None
            extras["profileId"] = None  # kept here before profiles were rows: dropped when set
        if "customIds" in body:
            extras["customIds"] = body["customIds"] or None
        for field in ("period", *FLAGS):
            if field in body:
                extras[field] = body[field]
        location: Any = KEEP
        if "location" in body:
            location, extras["zone"] = body["location"] or (None, None)
        return DeviceFields(
            name=body.get("name", KEEP),
            friendly_name=body.get("friendly_name", KEEP),
            description=body.get("description", KEEP),
            tags=body.get("tags", KEEP),
            status=body.get("status", KEEP),
            location=location,
            extras=extras,
            apps=body.get("apps", KEEP),
            profile=profile,
        )

    class Meta:
        ref_name = "DeviceIn"


class DeviceChange(DeviceIn):
    """`PUT /v3/devices/{ref}` and `/v3/apps/{ref}`: changes what the body names."""

    name = Name(required=False)

    class Meta:
        ref_name = "DeviceUpdate"


# --- answers ----------------------------------------------------------------------------------------


def _extras(plug: Plug) -> dict[str, Any]:
    props = plug.props if isinstance(plug.props, dict) else {}
    extras = props.get(V3_KEY)
    return extras if isinstance(extras, dict) else {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def location_of(plug: Plug) -> dict[str, Any] | None:
    """Connio's `{zone?, geo?: {lat, lon, alt?}}` from CloudPlugs' `{x: lon, y: lat, z: alt}`."""
    props = plug.props if isinstance(plug.props, dict) else {}
    location, zone = props.get(LOCATION), _extras(plug).get("zone")
    result: dict[str, Any] = {}
    if zone is not None:
        result["zone"] = zone
    if isinstance(location, dict) and _number(location.get("x")) and _number(location.get("y")):
        geo = {"lat": location["y"], "lon": location["x"]}
        if _number(location.get("z")):
            geo["alt"] = location["z"]
        result["geo"] = geo
    return result or None


class Geo(Answer):
    """A point: latitude, longitude, and altitude if known."""

    lat = Number(min_value=-90, max_value=90)
    lon = Number(min_value=-180, max_value=180)
    alt = Number(required=False, allow_null=True)

    class Meta:
        ref_name = "Geo"


class Location(Answer):
    """Where a device is: a zone (a name, such as a time zone) and a point."""

    zone = serializers.CharField(required=False, allow_null=True)
    geo = Geo(required=False, allow_null=True)

    class Meta:
        ref_name = "Location"


def _extra(name: str) -> Callable[[Plug], Any]:
    return lambda plug: _extras(plug).get(name, DEVICE_DEFAULTS[name])


class DeviceAnswer(Answer):
    """A plug as a v3 device (SPEC §6's fields, then its connection state); the view gives
    `apps`, the ids of the controllers controlling it."""

    id = serializers.CharField()
    accountId = serializers.CharField(source="account_id")
    name = serializers.CharField()
    friendlyName = serializers.CharField()
    profileId = serializers.CharField(allow_null=True)
    apps = serializers.ListField(child=serializers.CharField(), help_text="controllers of the device")
    status = serializers.ChoiceField(V3_STATUSES)
    period = serializers.IntegerField(allow_null=True)
    annotateWithLoc = serializers.BooleanField(allow_null=True)
    annotateWithMeta = serializers.BooleanField(allow_null=True)
    locked = serializers.BooleanField(allow_null=True)
    customIds = serializers.DictField(child=AnyJson(), allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(allow_blank=True)
    location = Location(allow_null=True)
    dateCreated = Moment(source="date_created", allow_null=True)
    dateModified = Moment(source="date_modified", allow_null=True)
    # Connection state (MQTT): `transport` while connected, else null; `lastSeen` is the last
    # connect or disconnect.
    connected = serializers.BooleanField(help_text="an MQTT connection of the device is open")
    lastSeen = Moment(
        source="last_seen", allow_null=True, help_text="the last connect or disconnect (ISO 8601)"
    )
    transport = serializers.ChoiceField(
        ["mqtt-tcp", "mqtt-ws"], allow_null=True, help_text="the MQTT transport while connected, else null"
    )

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "friendlyName": lambda plug: plug.friendly_name or plug.name,
        # The profile row; a device stored before profiles were rows kept the id in its extras.
        "profileId": lambda plug: plug.profile_id or _extra("profileId")(plug),
        "status": lambda plug: STATUS_TO_V3.get(plug.status, plug.status),
        **{name: _extra(name) for name in ("period", "customIds", *FLAGS)},
        "tags": lambda plug: plug.tags or [],
        "location": location_of,
        "transport": lambda plug: plug.transport if plug.connected and plug.transport else None,
    }

    class Meta:
        ref_name = "Device"


class AppAnswer(DeviceAnswer):
    """An app: a device's shape plus the things it controls (the view gives `devices`)."""

    devices = serializers.ListField(child=serializers.CharField(), help_text="the things it controls")

    class Meta:
        ref_name = "App"
