"""The property dialect's management API (SPEC §6 "Management"): devices, their properties,
keys, logs and commands, and API clients, under `/v3/` and `/v3/accounts/{acc}/`.

The views translate v3 words (Connio's) to plug words and back, check who may do what, and
call the services; `devices.presenters` holds the response shapes.

Who may do what:
- the account (master password, user key): everything in the account;
- a device key: read its own device, properties, key, log and commands (`_this_` or its id);
- an API client key: read the devices of its context with `device:read`, `device:read-data`
  or `device:modify`; create and change devices with `device:modify` and an account context;
- keys and API clients are managed by the account only.
Another account's device is a 404; a device of the account the caller may not touch, a 403.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from commands.models import Command
from devices.models import DeviceLogEntry, Plug, Property
from devices.presenters import (
    STATUS_TO_V3,
    apiclient_json,
    command_json,
    device_json,
    key_json,
    log_entry_json,
    property_json,
)
from devices.selectors import plug_resolve
from devices.services import (
    KEEP,
    MAX_RETENTION_SECONDS,
    DeviceFields,
    device_create,
    device_key_regenerate,
    device_may_create,
    device_may_modify,
    device_update,
    management_reach,
    plug_device_key,
    plugs_unenroll,
    property_define,
)
from plugboard.errors import ApiError
from plugboard.models import ApiKey
from plugboard.parsers import is_json_number
from plugboard.property_dialect import PropertyDialectView, page
from plugboard.services import apiclient_create, key_regenerate, key_revoke, key_secret

STATUS_FROM_V3 = {v3: plug for plug, v3 in STATUS_TO_V3.items()}
STATUS_FROM_V3["disabed"] = Plug.Status.DISABLED  # the Connio Python SDK's constant says so

# Fields of a response object a client may send back unchanged (GET, edit, PUT); ignored.
READ_ONLY = frozenset({"id", "accountId", "dateCreated", "dateModified"})

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
    {"name", "type", "access", "publish", "boundaries", "min", "max", "retention", "description"}
)
# Connio property fields accepted for compatibility but not kept (no column for them yet).
PROPERTY_IGNORED = frozenset(
    {"ownerId", "friendlyName", "qualifiedName", "tags", "measurement", "locked", "inherited"}
)

APICLIENT_FIELDS = frozenset({"name", "friendlyName", "description", "tags", "context", "scope", "rateLimit"})
CONTEXT_TYPES = {
    "account": ApiKey.ContextType.ACCOUNT,
    "app": ApiKey.ContextType.APP,
    "device": ApiKey.ContextType.DEVICES,
    "devices": ApiKey.ContextType.DEVICES,
}

MAX_INT = 2**31 - 1  # what an integer column holds on every database
LIFETIME_RE = re.compile(r"^\s*(\d+)\s*([smhdwMy]?)\s*$")
LIFETIME_UNITS = {
    "": 1,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,
    "y": 365 * 86400,
}


# --- parsing v3 bodies -------------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    if request.data is None:
        raise ApiError(400, "a JSON object body is required")
    if not isinstance(request.data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return request.data


def _refuse_unknown(body: dict[str, Any], known: frozenset[str]) -> None:
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


def _device_fields(body: dict[str, Any], *, creating: bool) -> DeviceFields:
    body = {DEVICE_ALIASES.get(k, k): v for k, v in body.items()}
    _refuse_unknown(body, DEVICE_FIELDS)
    if creating and not body.get("name"):
        raise ApiError(400, "name is required")
    extras: dict[str, Any] = {}
    if "profileId" in body or "profile" in body:
        profile = body.get("profileId", body.get("profile"))
        if profile is not None and not isinstance(profile, str):
            raise ApiError(400, "profileId must be a string")
        extras["profileId"] = profile
    if "customIds" in body:
        if body["customIds"] is not None and not isinstance(body["customIds"], dict):
            raise ApiError(400, "customIds must be an object")
        extras["customIds"] = body["customIds"] or None
    if "period" in body:
        period = body["period"]
        if period is not None and not (
            is_json_number(period) and period == int(period) and 0 < period <= MAX_INT
        ):
            raise ApiError(400, "period must be a positive whole number of seconds")
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
    )


def _seconds(value: Any, field: str) -> int:
    if is_json_number(value) and value == int(value):
        return int(value)
    if isinstance(value, str) and (match := LIFETIME_RE.match(value)):
        return int(match.group(1)) * LIFETIME_UNITS[match.group(2)]
    raise ApiError(400, f'{field} must be seconds or a duration such as "30d", "12h", "15m", "45s"')


def _retention(value: Any) -> int | None:
    """Seconds, `"30d"`, or Connio's `{"type": "historical"|"time", "lifetime"|"value": …}`."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") not in (None, "historical", "time"):
            raise ApiError(400, "only time-based retention (a lifetime) is supported")
        lifetime = value.get("lifetime", value.get("value"))
        if lifetime is None:
            raise ApiError(400, 'retention needs a lifetime, such as {"lifetime": "30d"}')
        seconds = _seconds(lifetime, "retention.lifetime")
    else:
        seconds = _seconds(value, "retention")
    if not 0 < seconds <= MAX_RETENTION_SECONDS:
        raise ApiError(400, f"retention must be 1..{MAX_RETENTION_SECONDS} seconds")
    return seconds


def _boundaries(body: dict[str, Any]) -> tuple[Any, Any]:
    bounds = body.get("boundaries")
    if bounds is None:
        return body.get("min"), body.get("max")
    if not isinstance(bounds, dict):
        raise ApiError(400, "boundaries must be an object {min?, max?}")
    if isinstance(bounds.get("range"), dict):  # Connio's older shape
        bounds = bounds["range"]
    return bounds.get("min"), bounds.get("max")


def _property_definition(body: dict[str, Any]) -> dict[str, Any]:
    _refuse_unknown(body, PROPERTY_FIELDS | PROPERTY_IGNORED)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "name is required and must be a string")
    words = {"type": "any", "access": "protected", "publish": "always"}
    for field in words:
        if body.get(field) is not None:
            if not isinstance(body[field], str):
                raise ApiError(400, f"{field} must be a string")
            words[field] = body[field]
    if words["type"] not in PROPERTY_TYPES:
        raise ApiError(400, f"type must be one of {', '.join(PROPERTY_TYPES)}")
    low, high = _boundaries(body)
    description = body.get("description")
    return {
        "name": name,
        "type": PROPERTY_TYPES[words["type"]],
        "access": words["access"],
        "publish": words["publish"],
        "min": low,
        "max": high,
        "retention": _retention(body.get("retention")),
        "description": description if description is not None else "",
    }


# --- reads only this dialect needs ---------------------------------------------------------------


def _apps_of(plug: Plug) -> list[str]:
    # `controlled_by` is prefetched on pages; a single device costs one query.
    return [control.controller_id for control in plug.controlled_by.all()]


def _visible_plugs(view: ManagementView) -> QuerySet[Plug]:
    reach = management_reach(principal=view.principal)
    rows = Plug.objects.filter(account_id=view.principal.account_id).prefetch_related("controlled_by")
    return rows if reach.everything else rows.filter(id__in=reach.ids)


# --- views -------------------------------------------------------------------------------------


class ManagementView(PropertyDialectView):
    """Device and API client look-ups with the rights each needs."""

    def device(self, ref: str) -> Plug:
        """The device `ref` if the caller may look at it: 404 across accounts, 403 within."""
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not management_reach(principal=self.principal).allows(plug.id):
            raise ApiError(403, f"these credentials may not see device {ref}")
        return plug

    def device_to_change(self, ref: str) -> Plug:
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not device_may_modify(principal=self.principal, plug=plug):
            raise ApiError(403, f"these credentials may not change device {ref}")
        return plug

    def account_only(self, what: str) -> None:
        if not self.principal.is_account:
            raise ApiError(403, f"only the account (master password or user key) may {what}")

    def apiclient(self, key_id: str) -> ApiKey:
        self.account_only("manage API clients")
        key = ApiKey.objects.filter(
            id=key_id, account_id=self.principal.account_id, kind=ApiKey.Kind.APICLIENT
        ).first()
        if key is None:
            raise ApiError(404, f"no API client {key_id}")
        return key


class DeviceListView(ManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        return Response(page(request, _visible_plugs(self), lambda p: device_json(p, apps=_apps_of(p))))

    def post(self, request: Request, **_: Any) -> Response:
        if not device_may_create(principal=self.principal):
            raise ApiError(403, "these credentials may not create devices")
        fields = _device_fields(_body(request), creating=True)
        plug = device_create(account=self.principal.account_id, fields=fields).plug
        return Response(device_json(plug, apps=_apps_of(plug)), status=201)


class DeviceView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        return Response(device_json(plug, apps=_apps_of(plug)))

    def put(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device_to_change(ref)
        plug = device_update(plug=plug, fields=_device_fields(_body(request), creating=False))
        return Response(device_json(plug, apps=_apps_of(plug)))

    def delete(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device_to_change(ref)
        # The channel dialect's removal, so one rule decides what goes with a plug.
        removed = plugs_unenroll(principal=self.principal, plug_ids=[plug.id])
        # Connio answers a delete with the number of entities removed (its JS SDK reads it).
        return Response({"nrOfItems": removed})


class PropertiesView(ManagementView):
    def properties_list(self, request: Request, ref: str) -> Response:
        plug = self.device(ref)
        rows = Property.objects.filter(plug=plug).order_by("name")
        return Response(page(request, rows, lambda prop: property_json(prop, plug=plug)))

    def property_create(self, request: Request, ref: str) -> Response:
        plug = self.device_to_change(ref)
        prop = property_define(plug=plug, **_property_definition(_body(request)))
        return Response(property_json(prop, plug=plug), status=201)


class DevicePropertiesView(PropertiesView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        return self.properties_list(request, ref)

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        return self.property_create(request, ref)


class OwnerPropertiesView(PropertiesView):
    """`/v3/properties?owner={ref}`: the Connio SDKs create and list properties this way."""

    def _owner(self, request: Request) -> str:
        body = request.data if isinstance(request.data, dict) else {}
        owner = request.query_params.get("owner") or body.get("ownerId")
        if not isinstance(owner, str) or not owner:
            raise ApiError(400, "owner (query) or ownerId (body) names the device")
        return owner

    def get(self, request: Request, **_: Any) -> Response:
        return self.properties_list(request, self._owner(request))

    def post(self, request: Request, **_: Any) -> Response:
        return self.property_create(request, self._owner(request))


class DeviceKeyView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        # A device reads its own key (clients fetch their secret this way); no one else but the account.
        if not (self.principal.is_account or self.principal.plug_id == plug.id):
            raise ApiError(403, "only the account or the device itself may read a device key")
        key = plug_device_key(plug=plug)
        if key is None:
            raise ApiError(404, f"device {ref} has no key; POST to this URL makes one")
        return Response(key_json(key, secret=key_secret(key=key)))

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        self.account_only("regenerate a device key")
        key, secret = device_key_regenerate(plug=plug)
        return Response(key_json(key, secret=secret))


class DeviceLogView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        rows = DeviceLogEntry.objects.filter(plug=plug).order_by("-id")
        return Response(page(request, rows, log_entry_json))


class DeviceCommandsView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        rows = Command.objects.filter(plug=plug).order_by("-created_at", "-id")
        return Response(page(request, rows, command_json))


def _context(view: ManagementView, value: Any) -> tuple[str, list[str], Plug | None]:
    """Connio's `{type, ids}` → (context type, device ids, app)."""
    if not isinstance(value, dict):
        raise ApiError(400, "context must be an object {type: account|app|devices, ids: [...]}")
    kind, ids = value.get("type"), value.get("ids", [])
    if not isinstance(kind, str) or kind not in CONTEXT_TYPES:
        raise ApiError(400, "context.type must be account, app or devices")
    if ids is None:
        ids = []
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "context.ids must be a list of ids")
    account_id = view.principal.account_id
    if CONTEXT_TYPES[kind] == ApiKey.ContextType.ACCOUNT:
        others = sorted(set(ids) - {account_id, "_this_"})
        if others:
            raise ApiError(404, f"no account {others[0]}")
        return ApiKey.ContextType.ACCOUNT, [], None
    plugs = [plug_resolve(principal=view.principal, ref=i) for i in ids]
    if CONTEXT_TYPES[kind] == ApiKey.ContextType.APP:
        if len(plugs) != 1 or plugs[0].kind != Plug.Kind.CONTROLLER:
            raise ApiError(400, "an app context lists exactly one app (a controller plug)")
        return ApiKey.ContextType.APP, [], plugs[0]
    return ApiKey.ContextType.DEVICES, [p.id for p in plugs], None


class ApiClientListView(ManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        self.account_only("list API clients")
        rows = ApiKey.objects.filter(account_id=self.principal.account_id, kind=ApiKey.Kind.APICLIENT)
        return Response(
            page(request, rows.order_by("-date_created", "id"), lambda k: apiclient_json(k, secret=None))
        )

    def post(self, request: Request, **_: Any) -> Response:
        self.account_only("create API clients")
        body = _body(request)
        _refuse_unknown(body, APICLIENT_FIELDS)
        name = body.get("name") or body.get("friendlyName") or ""
        if not isinstance(name, str) or len(name) > 120:
            raise ApiError(400, "name must be a string of at most 120 characters")
        scope = body.get("scope")
        if isinstance(scope, str):
            scope = [scope]
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise ApiError(400, 'scope must be a list such as ["device:read-data"]')
        rate_limit = body.get("rateLimit", 0)
        if not isinstance(rate_limit, int) or isinstance(rate_limit, bool) or not 0 <= rate_limit <= MAX_INT:
            raise ApiError(400, "rateLimit must be a whole number of requests per minute (0 = unlimited)")
        if "context" not in body:
            raise ApiError(400, "context is required: {type: account|app|devices, ids: [...]}")
        context_type, ids, app = _context(self, body["context"])
        key, secret = apiclient_create(
            account=self.principal.account_id,
            scope=scope,
            context_type=context_type,
            context_ids=ids,
            app=app,
            name=name,
            rate_limit=rate_limit,
        )
        # The secret is shown this once; it is stored only as a keyed digest.
        return Response(apiclient_json(key, secret=secret), status=201)


class ApiClientView(ManagementView):
    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(apiclient_json(self.apiclient(key_id), secret=None))

    def delete(self, request: Request, key_id: str, **_: Any) -> Response:
        key_revoke(key=self.apiclient(key_id))
        return Response({"nrOfItems": 1})


class ApiClientKeyView(ManagementView):
    """`/apiclients/{id}/apikey`: GET shows the key (secret withheld), POST regenerates it."""

    def post(self, request: Request, key_id: str, **_: Any) -> Response:
        key = self.apiclient(key_id)
        secret = key_regenerate(key=key)
        return Response(key_json(key, secret=secret))

    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(key_json(self.apiclient(key_id), secret=None))
