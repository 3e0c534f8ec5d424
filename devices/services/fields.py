"""The shape of a plug's fields, checked before any service stores them (SPEC §3, §5, §6)."""

from __future__ import annotations

import math
import re
from typing import Any

from devices.models import default_perm
from plugboard.errors import ApiError
from plugboard.parsers import MAX_INT, is_json_number
from plugboard.timestamps import BadTimestamp, parse_timestamp

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


class PlugError(ApiError):
    """A refused plug change; `status_code` is the HTTP status the dialects answer with (each in
    its own error shape, through the shared exception handler)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PlugError("name must start with a letter and hold only letters, digits, '.', '-', '_' (≤ 64)")
    return name


def perm_validate(perm: Any) -> dict[str, Any]:
    """CloudPlugs' Perm: {"of": {"r": [ids]|null, "w": [ids]|null}, "ctrl": "rw"|"r"|""}."""
    if not isinstance(perm, dict):
        raise PlugError("perm must be a JSON object")
    result = default_perm()
    of = perm.get("of", {})
    if not isinstance(of, dict):
        raise PlugError("perm.of must be a JSON object")
    for mode in ("r", "w"):
        if mode in of:
            ids = of[mode]
            if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
                raise PlugError(f"perm.of.{mode} must be a list of plug ids or null")
            result["of"][mode] = ids
    if "ctrl" in perm:
        ctrl = perm["ctrl"] if perm["ctrl"] is not None else "rw"
        if ctrl not in ("rw", "r", ""):
            raise PlugError('perm.ctrl must be "rw", "r" or ""')
        result["ctrl"] = ctrl
    return result


LOCATION = "location"


LOCATION = "location"
_LOCATION_NUMBERS = ("x", "y", "r", "z")


def fits_float(value: Any) -> bool:
    """A finite JSON number that a float column holds (an integer beyond ±1.8e308 is not)."""
    if not is_json_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def location_validate(value: Any) -> dict[str, Any]:
    """CloudPlugs' Location: `{x, y, r?, z?, t?}`, x (longitude) in [-180, 180), y in [-90, 90]."""
    if not isinstance(value, dict):
        raise PlugError("location must be a JSON object {x, y, r?, z?, t?}")
    for field in _LOCATION_NUMBERS:
        if field in value and not fits_float(value[field]):
            raise PlugError(f"location.{field} must be a number")
    if "x" not in value or "y" not in value:
        raise PlugError("location needs x (longitude) and y (latitude)")
    if not -180 <= value["x"] < 180:
        raise PlugError("location.x (longitude) must be in [-180, 180)")
    if not -90 <= value["y"] <= 90:
        raise PlugError("location.y (latitude) must be in [-90, 90]")
    if value.get("t") is not None:
        try:
            parse_timestamp(value["t"])
        except BadTimestamp as exc:
            raise PlugError(f"location.t: {exc}")
    return value


def props_validate(props: Any) -> dict[str, Any]:
    """A props object as stored at creation: an object, `location` well formed, nulls dropped."""
    if not isinstance(props, dict):
        raise PlugError("props must be a JSON object")
    if props.get(LOCATION) is not None:
        location_validate(props[LOCATION])
    return {k: v for k, v in props.items() if v is not None}


def props_merge(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    if not isinstance(changes, dict):
        raise PlugError("props must be a JSON object")
    if changes.get(LOCATION) is not None:
        location_validate(changes[LOCATION])
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# v3 device fields with no column of their own are kept in `plug.props` under this key; the
# location's coordinates live in `props.location` (CloudPlugs' {x, y, z}) so both dialects see one.
V3_KEY = "_v3"


MANAGEMENT_READ_SCOPES = ("device:read", "device:read-data", "device:modify")
MAX_RETENTION_SECONDS = MAX_INT


def text_field(value: Any, field: str, limit: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PlugError(f"{field} must be a string")
    if limit is not None and len(value) > limit:
        raise PlugError(f"{field} must be at most {limit} characters")
    return value


def tags_field(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise PlugError("tags must be a list of strings")
    return list(dict.fromkeys(value))


def url_field(value: Any, field: str) -> str:
    """An http(s) URL of at most 500 characters, or none."""
    text = text_field(value, field, 500)
    if text and not text.lower().startswith(("http://", "https://")):
        raise PlugError(f"{field} must be an http or https URL")
    return text
