"""The property dialect's management bodies (SPEC §6): Connio's v3 words read into plug words.

Every function refuses what it cannot read with a 400 (`ApiError`) naming the field; none
touches the database except to resolve the plugs a body names.
"""

from __future__ import annotations

from typing import Any

from devices.models import Plug, ProfileProperty, Property
from devices.presenters import STATUS_TO_V3
from devices.services.management import KEEP, DeviceFields
from devices.shapes.base import READ_ONLY, body_object, retention_seconds
from plugboard.errors import ApiError
from plugboard.parsers import MAX_INT, is_json_number

__all__ = ["body_object"]  # still read from here by the views not yet converted

STATUS_FROM_V3 = {v3: plug for plug, v3 in STATUS_TO_V3.items()}
STATUS_FROM_V3["disabed"] = Plug.Status.DISABLED  # the Connio Python SDK's constant says so

DEVICE_FIELDS = frozenset(
    {
        "name",
        "friendlyName",
        "description",
        "tags",
        "location",
        "status",
        "profileId",
        "profile",
        "customIds",
        "period",
        "annotateWithLoc",
        "annotateWithMeta",
        "locked",
        "apps",
    }
)
# Misspellings the Connio Python SDK sends (`loation` on create, `custom_ids` on update).
DEVICE_ALIASES = {"loation": "location", "custom_ids": "customIds"}

# Connio's property type words, and the nearest type of the one data model.
PROPERTY_TYPES = {
    **{t: t for t in Property.Type.values},
    "integer": Property.Type.NUMBER,
    "float": Property.Type.NUMBER,
    "enum": Property.Type.STRING,
    "waypoint": Property.Type.OBJECT,
    "location": Property.Type.OBJECT,
}
PROPERTY_FIELDS = frozenset(
    {
        "name",
        "type",
        "access",
        "publish",
        "boundaries",
        "min",
        "max",
        "retention",
        "description",
        "friendlyName",
        "tags",
        "measurement",
    }
)
# Connio's other spellings of three of them (its SDKs' `data_type`, `access_type`, `publish_type`).
PROPERTY_ALIASES = {"dataType": "type", "accessType": "access", "publishType": "publish"}
# Fields of a property object a client may send back (from a GET, or the owner in a create): ignored.
PROPERTY_IGNORED = frozenset({"ownerId", "qualifiedName", "locked", "inherited", *PROPERTY_ALIASES})


def refuse_unknown(body: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known - READ_ONLY)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")


def _location(value: Any) -> tuple[Any, Any]:
    """Connio's `{zone?, geo?: {lat, lon, alt?}}` → (CloudPlugs location or None, zone or None)."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise ApiError(400, "location must be an object {zone?, geo?: {lat, lon, alt?}}")
    zone, geo = value.get("zone"), value.get("geo")
    if zone is not None and not isinstance(zone, str):
        raise ApiError(400, "location.zone must be a string")
    if geo is None:
        return None, zone
    if not isinstance(geo, dict) or not is_json_number(geo.get("lat")) or not is_json_number(geo.get("lon")):
        raise ApiError(400, "location.geo must be {lat, lon, alt?} with numbers")
    if not -90 <= geo["lat"] <= 90 or not -180 <= geo["lon"] <= 180:
        raise ApiError(400, "location.geo: lat must be in [-90, 90] and lon in [-180, 180]")
    # CloudPlugs' x is in [-180, 180): 180° east is the same meridian as 180° west.
    place: dict[str, Any] = {"x": -180 if geo["lon"] == 180 else geo["lon"], "y": geo["lat"]}
    if geo.get("alt") is not None:
        if not is_json_number(geo["alt"]):
            raise ApiError(400, "location.geo.alt must be a number")
        place["z"] = geo["alt"]
    return place, zone


def device_fields(body: dict[str, Any], *, creating: bool) -> DeviceFields:
    body = {DEVICE_ALIASES.get(k, k): v for k, v in body.items()}
    refuse_unknown(body, DEVICE_FIELDS)
    if creating and not body.get("name"):
        raise ApiError(400, "name is required")
    extras: dict[str, Any] = {}
    profile: Any = KEEP
    if "profileId" in body or "profile" in body:
        profile = body.get("profileId", body.get("profile"))
        if profile is not None and not isinstance(profile, str):
            raise ApiError(400, "profileId must be a string")
        profile = profile or None
        extras["profileId"] = None  # kept here before profiles were rows: dropped when set
    if "customIds" in body:
        if body["customIds"] is not None and not isinstance(body["customIds"], dict):
            raise ApiError(400, "customIds must be an object")
        extras["customIds"] = body["customIds"] or None
    if "period" in body:
        period = body["period"]
        if period is not None and not (
            is_json_number(period) and period == int(period) and 0 <= period <= MAX_INT
        ):
            raise ApiError(400, "period must be a whole number of seconds, 0 or more (0: not watched)")
        period = int(period) if period is not None else None
        extras["period"] = period
    for flag in ("annotateWithLoc", "annotateWithMeta", "locked"):
        if flag in body:
            if body[flag] is not None and not isinstance(body[flag], bool):
                raise ApiError(400, f"{flag} must be true or false")
            extras[flag] = body[flag]
    status: Any = KEEP
    if "status" in body:
        if not isinstance(body["status"], str) or body["status"] not in STATUS_FROM_V3:
            raise ApiError(400, "status must be enabled, disabled or debug")
        status = STATUS_FROM_V3[body["status"]]
    location: Any = KEEP
    if "location" in body:
        location, extras["zone"] = _location(body["location"])
    return DeviceFields(
        name=body.get("name", KEEP),
        friendly_name=body.get("friendlyName", KEEP),
        description=body.get("description", KEEP),
        tags=body.get("tags", KEEP),
        status=status,
        location=location,
        extras=extras,
        apps=body.get("apps", KEEP),
        profile=profile,
    )


def _boundaries(body: dict[str, Any], *, merge: bool = False) -> tuple[Any, Any]:
    """`boundaries: {min?, max?}` (or top-level `min`/`max`); with `merge`, a bound the body
    does not name is `KEEP` (JSON merge patch: `null` removes it, an absent key keeps it)."""
    missing: Any = KEEP if merge else None
    if "boundaries" not in body:
        return body.get("min", missing), body.get("max", missing)
    bounds = body["boundaries"]
    if bounds is None:  # none, unless top-level ones are given
        return body.get("min"), body.get("max")
    if not isinstance(bounds, dict):
        raise ApiError(400, "boundaries must be an object {min?, max?}")
    if isinstance(bounds.get("range"), dict):  # Connio's older shape
        bounds = bounds["range"]
    return bounds.get("min", missing), bounds.get("max", missing)


PROPERTY_WORD_DEFAULTS = {"type": "any", "access": "protected", "publish": "always"}


def _property_settings(body: dict[str, Any], *, merge: bool) -> dict[str, Any]:
    """The settings a property body names, in plug words; what it leaves out is the default,
    or `KEEP` with `merge` (PATCH). `null` is the default either way."""
    settings: dict[str, Any] = {}
    body = {**{PROPERTY_ALIASES[k]: v for k, v in body.items() if k in PROPERTY_ALIASES}, **body}
    for field, default in PROPERTY_WORD_DEFAULTS.items():
        if field not in body:
            if not merge:
                settings[field] = default
            continue
        value = body[field] if body[field] is not None else default
        if not isinstance(value, str):
            raise ApiError(400, f"{field} must be a string")
        if field == "type":
            if value not in PROPERTY_TYPES:
                raise ApiError(400, f"type must be one of {', '.join(PROPERTY_TYPES)}")
            value = PROPERTY_TYPES[value]
        settings[field] = value
    low, high = _boundaries(body, merge=merge)
    for field, bound in (("min", low), ("max", high)):
        if bound is not KEEP:
            settings[field] = bound
    if "retention" in body or not merge:
        settings["retention"] = retention_seconds(body.get("retention"))
    if "description" in body or not merge:
        description = body.get("description")
        settings["description"] = description if description is not None else ""
    if "friendlyName" in body or not merge:
        settings["friendly_name"] = body.get("friendlyName") or ""
    if "tags" in body or not merge:
        settings["tags"] = body["tags"] if body.get("tags") is not None else []
    if "measurement" in body or not merge:
        settings["measurement"] = body.get("measurement")
    return settings


def property_definition(body: dict[str, Any]) -> dict[str, Any]:
    refuse_unknown(body, PROPERTY_FIELDS | PROPERTY_IGNORED)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "name is required and must be a string")
    return {"name": name, **_property_settings(body, merge=False)}


def property_changes(
    body: dict[str, Any], *, prop: Property | ProfileProperty, merge: bool
) -> dict[str, Any]:
    """A PUT (`merge=False`: every setting the body leaves out goes back to its default) or a
    PATCH (`merge=True`: only what it names changes) of a property's settings. The name may be
    sent back as it is, never changed: it is the channel the points are written to."""
    refuse_unknown(body, PROPERTY_FIELDS | PROPERTY_IGNORED)
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or name.lower() != prop.name.lower()):
        raise ApiError(400, f"a property's name cannot change (it is {prop.name!r})")
    return _property_settings(body, merge=merge)
