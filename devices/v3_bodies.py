"""The property dialect's management bodies (SPEC §6): Connio's v3 words read into plug words.

Every function refuses what it cannot read with a 400 (`ApiError`) naming the field; none
touches the database except to resolve the plugs a body names.
"""

from __future__ import annotations

from typing import Any

from devices.models import ProfileProperty, Property
from devices.services.management import KEEP
from devices.shapes.base import READ_ONLY, body_object, retention_seconds
from plugboard.errors import ApiError

__all__ = ["body_object"]  # still read from here by the views not yet converted

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
