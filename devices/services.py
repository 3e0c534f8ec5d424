"""Plug services: creation, enrollment, control, changes (SPEC §3, §5)."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction

from devices.models import Control, Plug, ProductionTemplate, TemplateHwid, default_perm
from plugboard.errors import ApiError
from plugboard.models import Account, ApiKey
from plugboard.parsers import is_json_number
from plugboard.principals import Principal
from plugboard.services import key_create, key_regenerate, key_secret
from plugboard.timestamps import BadTimestamp, parse_timestamp

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


class PlugError(ApiError):
    """A refused plug change; `status_code` is the HTTP status the dialects answer with (each in
    its own error shape, through the shared exception handler)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)


@dataclass(frozen=True)
class Enrolled:
    plug: Plug
    auth: str  # the plug's device key secret
    key: ApiKey
    created: bool = True


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PlugError("name must start with a letter and hold only letters, digits, '.', '-', '_' (≤ 64)")
    return name


def _free_name(account_id: str, base: str) -> str:
    """`base`, or `base-2`, `base-3`… : the first name not taken in the account."""
    taken = {
        n.lower()
        for n in Plug.objects.filter(account_id=account_id, name__istartswith=base).values_list(
            "name", flat=True
        )
    }
    if base.lower() not in taken:
        return base
    n = 2
    while f"{base}-{n}".lower() in taken:
        n += 1
    return f"{base}-{n}"


def default_name(account_id: str, hint: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", hint or "plug")[:56]
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "plug-" + cleaned
    return _free_name(account_id, cleaned[:56])


@transaction.atomic
def plug_create(
    *,
    account: Account | str,
    name: str | None = None,
    kind: str = Plug.Kind.THING,
    origin: str = Plug.Origin.PROTOTYPE,
    hwid: str = "",
    props: dict[str, Any] | None = None,
    perm: dict[str, Any] | None = None,
    control_password: str | None = None,
    template: ProductionTemplate | None = None,
    **fields: Any,
) -> Enrolled:
    """A new plug with its device key; the key's secret is the plug's `auth`."""
    account_id = account if isinstance(account, str) else account.id
    name = validate_name(name) if name else default_name(account_id, hwid or kind)
    if kind not in Plug.Kind.values:
        raise PlugError(f"kind must be one of {', '.join(Plug.Kind.values)}")
    props = props_validate(props) if props is not None else {}
    plug = Plug(
        account_id=account_id,
        name=name,
        kind=kind,
        origin=origin,
        hwid=hwid or "",
        props=props,
        perm=perm_validate(perm) if perm is not None else default_perm(),
        control_password=make_password(control_password) if control_password else "",
        template=template,
        **fields,
    )
    try:
        with transaction.atomic():
            plug.save(force_insert=True)
    except IntegrityError:
        raise PlugError(f"a plug named {name!r} already exists", status=409)
    key, secret = key_create(
        account=account_id, kind=ApiKey.Kind.DEVICE, plug=plug, name=f"{name} device key"
    )
    return Enrolled(plug=plug, auth=secret, key=key)


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


def template_create(
    *, account: Account | str, name: str, hwids: Sequence[tuple[str, str, str | None]] = ()
) -> ProductionTemplate:
    """A production template and its (hwid, enroll password, control password) entries."""
    account_id = account if isinstance(account, str) else account.id
    template = ProductionTemplate.objects.create(account_id=account_id, name=name)
    TemplateHwid.objects.bulk_create(
        TemplateHwid(
            template=template,
            hwid=hwid,
            enroll_password=make_password(enroll),
            control_password=make_password(control) if control else "",
        )
        for hwid, enroll, control in hwids
    )
    return template


# --- props --------------------------------------------------------------------------------------

LOCATION = "location"
_LOCATION_NUMBERS = ("x", "y", "r", "z")


def _fits_float(value: Any) -> bool:
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
        if field in value and not _fits_float(value[field]):
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


def _props_merge(current: dict[str, Any], changes: Any) -> dict[str, Any]:
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


@transaction.atomic
def plug_props_update(*, principal: Principal | None, plug: Plug, changes: Any) -> dict[str, Any]:
    """Merge `changes` into the plug's props (a null value removes the key); the new props.

    The row is locked while merging so two concurrent PATCHes of different keys both land.
    `principal=None` is the platform itself (enrollment).
    """
    if principal is not None and not plug_may_manage(principal=principal, plug=plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    locked.props = _props_merge(locked.props or {}, changes)
    locked.save(update_fields=["props", "date_modified"])
    plug.props = locked.props
    return locked.props


@transaction.atomic
def plug_prop_remove(*, principal: Principal, plug: Plug, key: str) -> int:
    """Remove one prop; 1 if it was there, else 0."""
    if not plug_may_manage(principal=principal, plug=plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    props = dict(locked.props or {})
    if key not in props:
        return 0
    del props[key]
    locked.props = props
    locked.save(update_fields=["props", "date_modified"])
    plug.props = props
    return 1


@transaction.atomic
def plug_props_clear(*, principal: Principal, plug: Plug) -> int:
    """Remove every prop of the plug; how many keys were removed."""
    if not plug_may_manage(principal=principal, plug=plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    # The property dialect keeps its device fields under V3_KEY: clearing CloudPlugs props spares them.
    kept = {k: v for k, v in (locked.props or {}).items() if k == V3_KEY}
    removed = len(locked.props or {}) - len(kept)
    locked.props = kept
    locked.save(update_fields=["props", "date_modified"])
    plug.props = kept
    return removed


# --- who may change a plug ---------------------------------------------------------------------


def plug_may_manage(*, principal: Principal, plug: Plug) -> bool:
    """The account (master password, user key), an account-wide API client key with
    `device:modify`, or the plug itself may change a plug's name, props and `perm.ctrl`."""
    if principal.account_id != plug.account_id:
        return False
    if principal.is_account or principal.acts_as(plug.id):
        return True
    return (
        principal.is_apiclient
        and principal.context_type == ApiKey.ContextType.ACCOUNT
        and principal.has_scope("device:modify")
    )


def _may_administer(principal: Principal, plug: Plug) -> bool:
    """Status and `perm.of` (the plug's own reach) are the account's to change, never the plug's."""
    return plug_may_manage(principal=principal, plug=plug) and not principal.is_plug


# --- enrollment ----------------------------------------------------------------------------------

BAD_ENROLLMENT = "invalid model, hwid or password"


@cache
def _dummy_hash() -> str:
    return make_password("plugboard-no-such-hwid")


def _password_matches(password: str, encoded: str | None) -> bool:
    # An unknown model/hwid still pays for one hash, so timing does not tell which part was wrong.
    if not encoded:
        check_password(password, _dummy_hash())
        return False
    return check_password(password, encoded)


def plug_enroll_production(
    *, template_id: str, hwid: str, password: str, props: dict[str, Any] | None = None
) -> Enrolled:
    """Enroll the production thing `hwid` of template `template_id` with its enroll password.

    The thing gets the template's perm and props (overlaid with `props`) and the template entry's
    control password (already hashed). Enrolling an enrolled hwid again with the right password
    returns the same plug with a regenerated `auth` (the old one stops working) and `created=False`.
    Any mismatch is the same 401, so a caller cannot probe which part was wrong.
    """
    if props is not None and not isinstance(props, dict):
        raise PlugError("props must be a JSON object")
    entry = (
        TemplateHwid.objects.select_related("template").filter(template_id=template_id, hwid=hwid).first()
        if template_id.startswith("mod-")
        else None
    )
    # The slow hash runs outside the transaction; the row is locked only to enroll.
    if not _password_matches(password, entry.enroll_password if entry else None) or entry is None:
        raise PlugError(BAD_ENROLLMENT, status=401)
    with transaction.atomic():
        entry = TemplateHwid.objects.select_for_update().select_related("template").get(pk=entry.pk)
        template = entry.template
        if entry.plug_id is not None:
            plug = Plug.objects.get(pk=entry.plug_id)
            if plug.is_disabled:
                raise PlugError("plug is disabled", status=403)
            if props:
                plug_props_update(principal=None, plug=plug, changes=props)
            key, auth = device_key_regenerate(plug=plug)
            return Enrolled(plug=plug, auth=auth, key=key, created=False)
        enrolled = plug_create(
            account=template.account_id,
            kind=Plug.Kind.THING,
            origin=Plug.Origin.PRODUCTION,
            hwid=hwid,
            props=_props_merge(template.props or {}, props or {}),
            perm=template.perm or default_perm(),
            template=template,
        )
        # The template keeps the control password hashed: copy the hash, never re-hash it.
        enrolled.plug.control_password = entry.control_password
        enrolled.plug.save(update_fields=["control_password"])
        entry.plug = enrolled.plug
        entry.save(update_fields=["plug"])
    return enrolled


def plug_enroll_prototype(
    *,
    account: Account | str,
    name: str,
    hwid: str | None = None,
    control_password: str | None = None,
    perm: dict[str, Any] | None = None,
    props: dict[str, Any] | None = None,
) -> Enrolled:
    """A prototype thing of the account; without `hwid` a random serial number is given."""
    if not name:
        raise PlugError("name is required")
    return plug_create(
        account=account,
        name=name,
        origin=Plug.Origin.PROTOTYPE,
        hwid=hwid or secrets.token_hex(8).upper(),
        control_password=control_password,
        perm=perm,
        props=props,
    )


@dataclass(frozen=True)
class Controlling:
    """The outcome of a controller enrollment: `auth` is the controller's device key secret."""

    controller: Plug
    thing: Plug
    auth: str | None
    created: bool


def _thing_to_control(model: str, ctrl: str, password: str) -> Plug:
    things = Plug.objects.filter(kind=Plug.Kind.THING, hwid=ctrl)
    if model.startswith("mod-"):
        thing = things.filter(template_id=model).first()
    elif model.startswith("dev-"):
        thing = things.filter(id=model).first()
    else:
        thing = None
    if not _password_matches(password, thing.control_password if thing else None) or thing is None:
        raise PlugError(BAD_ENROLLMENT, status=401)
    if _rights(thing) == "":
        raise PlugError("this thing does not accept controllers (perm.ctrl is empty)", status=403)
    return thing


def _rights(thing: Plug) -> str:
    ctrl = thing.perm.get("ctrl", "rw")
    return "rw" if ctrl is None else ctrl


def controller_enroll(
    *,
    model: str,
    ctrl: str,
    password: str,
    hwid: str = "",
    name: str | None = None,
    controller: Plug | None = None,
) -> Controlling:
    """Take control of the thing `ctrl` (hwid) of `model` (a `mod-` template or `dev-` prototype).

    Without `controller`, a new production controller plug is created in the thing's account
    (`created=True`, a fresh `auth`). With one (the caller's own controller plug), control of one
    more thing is added and its current `auth` is returned unchanged. Rights come from the thing's
    `perm.ctrl`; an empty `perm.ctrl` refuses controllers (403). A controller never reaches
    across accounts.
    """
    if controller is not None and controller.kind != Plug.Kind.CONTROLLER:
        raise PlugError("only a controller can take control of a thing", status=403)
    thing = _thing_to_control(model, ctrl, password)  # the slow hash, outside any transaction
    with transaction.atomic():
        return _control_grant(thing=thing, controller=controller, hwid=hwid, name=name)


def _control_grant(*, thing: Plug, controller: Plug | None, hwid: str, name: str | None) -> Controlling:
    if controller is None:
        enrolled = plug_create(
            account=thing.account_id,
            name=name or None,
            kind=Plug.Kind.CONTROLLER,
            origin=Plug.Origin.PRODUCTION,
            hwid=hwid,
        )
        Control.objects.create(controller=enrolled.plug, thing=thing, rights=_rights(thing))
        return Controlling(controller=enrolled.plug, thing=thing, auth=enrolled.auth, created=True)
    if controller.account_id != thing.account_id:
        raise PlugError("a controller can only control things of its own account", status=403)
    Control.objects.update_or_create(controller=controller, thing=thing, defaults={"rights": _rights(thing)})
    key = plug_device_key(plug=controller)
    # The official JS client replaces its password with the answer's `auth`: hand back the
    # current one (device key secrets are readable), regenerating only if it cannot be read.
    auth = key_secret(key=key) if key else None
    if auth is None:
        key, auth = device_key_regenerate(plug=controller)
    return Controlling(controller=controller, thing=thing, auth=auth, created=False)


@transaction.atomic
def control_release(*, controller: Plug, thing_ids: Iterable[str]) -> int:
    """The controller gives up control of `thing_ids`; how many controls were released."""
    deleted, _ = Control.objects.filter(controller=controller, thing_id__in=list(thing_ids)).delete()
    return deleted


@transaction.atomic
def plugs_unenroll(*, principal: Principal, plug_ids: Iterable[str]) -> int:
    """Delete the listed plugs the caller may unenroll; how many were deleted.

    The account may unenroll any of its plugs, a plug only itself. Ids the caller may not
    unenroll (another plug, another account's, unknown) are skipped, not reported: the count
    tells the caller what happened without revealing what exists elsewhere. Published data
    points stay (they are history); keys, properties, controls and the device log go with the plug.
    """
    plugs = Plug.objects.filter(account_id=principal.account_id, id__in=list(plug_ids))
    if principal.is_plug:
        allowed = [i for i in plugs.values_list("id", flat=True) if principal.acts_as(i)]
    elif principal.is_account:
        allowed = list(plugs.values_list("id", flat=True))
    else:
        allowed = [p.id for p in plugs if plug_may_manage(principal=principal, plug=p)]
    if not allowed:
        return 0
    Plug.objects.filter(id__in=allowed).delete()
    return len(allowed)


# --- changes -------------------------------------------------------------------------------------

UNSET: Any = object()


def _perm_patched(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """`patch` validated, with what it leaves out (`ctrl`, `of.r`, `of.w`) kept from `current`."""
    new_perm = perm_validate(patch)
    current_of = current.get("of") or {}
    given_of = patch.get("of") or {}
    for mode in ("r", "w"):
        if mode not in given_of:
            new_perm["of"][mode] = current_of.get(mode, [])
    if "ctrl" not in patch:
        new_perm["ctrl"] = current.get("ctrl", "rw")
    return new_perm


@transaction.atomic
def plug_update(
    *,
    principal: Principal,
    plug: Plug,
    name: Any = UNSET,
    perm: Any = UNSET,
    status: Any = UNSET,
    props: Any = UNSET,
) -> Plug:
    """Change a plug's name, perm, status and/or props (merged; a null value removes a key).

    The plug itself may change its name, props and `perm.ctrl`; status and `perm.of` (what the
    plug may reach) are the account's. A new `perm.ctrl` applies to the existing controllers too.
    """
    if not plug_may_manage(principal=principal, plug=plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    fields = ["date_modified"]
    if name is not UNSET:
        locked.name = validate_name(name)
        fields.append("name")
    if status is not UNSET:
        if status not in Plug.Status.values:
            raise PlugError(f"status must be one of {', '.join(Plug.Status.values)}")
        if status != locked.status and not _may_administer(principal, locked):
            raise PlugError("only the account may change a plug's status", status=403)
        locked.status = status
        fields.append("status")
    if perm is not UNSET:
        new_perm = _perm_patched(locked.perm or default_perm(), perm)
        if new_perm["of"] != (locked.perm or {}).get("of") and not _may_administer(principal, locked):
            raise PlugError("only the account may change perm.of (what a plug may reach)", status=403)
        if new_perm["ctrl"] != (locked.perm or {}).get("ctrl"):
            Control.objects.filter(thing=locked).update(rights=new_perm["ctrl"])
        locked.perm = new_perm
        fields.append("perm")
    if props is not UNSET:
        locked.props = _props_merge(locked.props or {}, props)
        fields.append("props")
    try:
        with transaction.atomic():
            locked.save(update_fields=fields)
    except IntegrityError:
        raise PlugError(f"a plug named {locked.name!r} already exists", status=409)
    return locked


# --- property dialect management ---
# The v3 (Connio) management API's writes. Imports stay inside the functions so this block can
# sit at the end of a module other dialects append to.

# v3 device fields with no column of their own are kept in `plug.props` under this key; the
# location's coordinates live in `props.location` (CloudPlugs' {x, y, z}) so both dialects see one.
V3_KEY = "_v3"
# A read of devices, properties, logs and commands needs one of these API client scopes.
MANAGEMENT_READ_SCOPES = ("device:read", "device:read-data", "device:modify")
MAX_RETENTION_SECONDS = 2**31 - 1


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # "leave this field as it is"


@dataclass(frozen=True)
class DeviceFields:
    """What a v3 create or update sets, in plug words; `KEEP` leaves a field alone.

    `location` is a CloudPlugs location or None (removed); `extras` are merged into
    `props[V3_KEY]` (a None value removes the key); `apps` are controller ids or names.
    """

    name: Any = KEEP
    friendly_name: Any = KEEP
    description: Any = KEEP
    tags: Any = KEEP
    status: Any = KEEP
    location: Any = KEEP
    extras: dict[str, Any] | None = None
    apps: Any = KEEP


def management_reach(*, principal: Principal) -> Any:
    """The plugs `principal` may look at through the v3 management API (a `devices.access.Reach`).

    The account sees every plug; a device key its own plug (or a gateway key's plugs); an API
    client key, with a read scope, the plugs of its context.
    """
    from devices.access import Reach

    if principal.is_account:
        return Reach(True, frozenset())
    if principal.is_plug:
        return Reach(False, frozenset(principal.plug_ids or (principal.plug_id or "",)))
    if not any(principal.has_scope(s) for s in MANAGEMENT_READ_SCOPES):
        return Reach(False, frozenset())
    if principal.context_type == ApiKey.ContextType.ACCOUNT:
        return Reach(True, frozenset())
    ids = set(principal.context_ids)
    if principal.context_type == ApiKey.ContextType.APP and principal.plug_id:
        ids.update(Control.objects.filter(controller_id=principal.plug_id).values_list("thing_id", flat=True))
    return Reach(False, frozenset(ids))


def device_may_create(*, principal: Principal) -> bool:
    """The account, or an account-wide API client key with `device:modify`, may create plugs."""
    return principal.is_account or (
        principal.is_apiclient
        and principal.context_type == ApiKey.ContextType.ACCOUNT
        and principal.has_scope("device:modify")
    )


def device_may_modify(*, principal: Principal, plug: Plug) -> bool:
    """Who may change a plug through the v3 management API: as `plug_may_manage`, but never a
    device key (in v3 a device reads its own description; the account writes it)."""
    return not principal.is_plug and plug_may_manage(principal=principal, plug=plug)


def plug_device_key(*, plug: Plug) -> ApiKey | None:
    """The device key created with the plug (its `auth`), not a gateway key listing it."""
    return ApiKey.objects.filter(plug=plug, kind=ApiKey.Kind.DEVICE).order_by("date_created").first()


def _text(value: Any, field: str, limit: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PlugError(f"{field} must be a string")
    if limit is not None and len(value) > limit:
        raise PlugError(f"{field} must be at most {limit} characters")
    return value


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise PlugError("tags must be a list of strings")
    return list(dict.fromkeys(value))


def _apps_resolve(account_id: str, refs: Any) -> list[Plug]:
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise PlugError("apps must be a list of app ids or names")
    found = []
    for ref in dict.fromkeys(refs):
        plugs = Plug.objects.filter(account_id=account_id)
        matches = plugs.filter(id=ref) if ref.startswith("dev-") else plugs.filter(name__iexact=ref)
        app = matches.first()
        if app is None:
            raise PlugError(f"no app {ref}", status=404)
        if app.kind != Plug.Kind.CONTROLLER:
            raise PlugError(f"{ref} is a device, not an app (controller)")
        found.append(app)
    return found


def _apps_set(plug: Plug, apps: list[Plug]) -> None:
    """Make `apps` exactly the controllers of `plug`, with the rights its `perm.ctrl` grants."""
    wanted = {a.id for a in apps} - {plug.id}
    Control.objects.filter(thing=plug).exclude(controller_id__in=wanted).delete()
    have = set(Control.objects.filter(thing=plug).values_list("controller_id", flat=True))
    ctrl = (plug.perm or {}).get("ctrl", "rw")
    rights = "rw" if ctrl is None else ctrl
    Control.objects.bulk_create(Control(controller_id=i, thing=plug, rights=rights) for i in wanted - have)


def _apply(plug: Plug, fields: DeviceFields) -> None:
    """Set `fields` on the (unsaved or locked) plug; controls are set by the caller."""
    if fields.name is not KEEP:
        plug.name = validate_name(fields.name)
    if fields.friendly_name is not KEEP:
        plug.friendly_name = _text(fields.friendly_name, "friendlyName", 120)
    if fields.description is not KEEP:
        plug.description = _text(fields.description, "description")
    if fields.tags is not KEEP:
        plug.tags = _tags(fields.tags)
    if fields.status is not KEEP:
        if fields.status not in Plug.Status.values:
            raise PlugError(f"status must be one of {', '.join(Plug.Status.values)}")
        plug.status = fields.status
    props = dict(plug.props or {})
    if fields.location is not KEEP:
        if fields.location is None:
            props.pop(LOCATION, None)
        else:
            props[LOCATION] = location_validate(fields.location)
    if fields.extras:
        extras = dict(props.get(V3_KEY) or {})
        for key, value in fields.extras.items():
            if value is None:
                extras.pop(key, None)
            else:
                extras[key] = value
        if extras:
            props[V3_KEY] = extras
        else:
            props.pop(V3_KEY, None)
    plug.props = props


@transaction.atomic
def device_create(*, account: Account | str, fields: DeviceFields) -> Enrolled:
    """A plug created through the v3 management API, with its device key and its apps."""
    account_id = account if isinstance(account, str) else account.id
    if not isinstance(fields.name, str) or not fields.name:
        raise PlugError("name is required")
    draft = Plug(account_id=account_id, props={})
    _apply(draft, fields)
    enrolled = plug_create(
        account=account_id,
        name=draft.name,
        props=draft.props,
        friendly_name=draft.friendly_name,
        description=draft.description,
        tags=draft.tags,
        status=draft.status,
    )
    if fields.apps is not KEEP:
        _apps_set(enrolled.plug, _apps_resolve(account_id, fields.apps))
    return enrolled


@transaction.atomic
def device_update(*, plug: Plug, fields: DeviceFields) -> Plug:
    """Change a plug's v3 fields; the row is locked so concurrent updates both land."""
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    _apply(locked, fields)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        raise PlugError(f"a plug named {locked.name!r} already exists", status=409)
    if fields.apps is not KEEP:
        _apps_set(locked, _apps_resolve(locked.account_id, fields.apps))
    return locked


@transaction.atomic
def device_key_regenerate(*, plug: Plug) -> tuple[ApiKey, str]:
    """A new secret for the plug's device key (its `auth`); the old one stops working at once."""
    key = plug_device_key(plug=plug)
    if key is None:  # a plug made before keys existed: give it one
        return key_create(
            account=plug.account_id, kind=ApiKey.Kind.DEVICE, plug=plug, name=f"{plug.name} device key"
        )
    return key, key_regenerate(key=key)


@transaction.atomic
def property_define(
    *,
    plug: Plug,
    name: str,
    type: str = "any",
    access: str = "protected",
    publish: str = "always",
    min: float | None = None,
    max: float | None = None,
    retention: int | None = None,
    description: str = "",
) -> Any:
    """A property of `plug` defined ahead of its first data point (SPEC §4 rule 4).

    Its name is the channel its points are written to; names are unique per plug, ignoring case.
    """
    from devices.models import Property
    from plugboard.channels import BadChannel, validate_channel

    try:
        validate_channel(name)
    except BadChannel as exc:
        raise PlugError(f"name: {exc}")
    for field, value, allowed in (
        ("type", type, Property.Type.values),
        ("access", access, Property.Access.values),
        ("publish", publish, Property.Publish.values),
    ):
        if value not in allowed:
            raise PlugError(f"{field} must be one of {', '.join(allowed)}")
    for field, bound in (("min", min), ("max", max)):
        if bound is not None and not _fits_float(bound):
            raise PlugError(f"boundaries.{field} must be a number")
    if (min is not None or max is not None) and type not in (Property.Type.NUMBER, Property.Type.ANY):
        raise PlugError(f"boundaries apply to numbers; a {type} property has none")
    if min is not None and max is not None and min > max:
        raise PlugError("boundaries.min must not exceed boundaries.max")
    if retention is not None and not (isinstance(retention, int) and 0 < retention <= MAX_RETENTION_SECONDS):
        raise PlugError(f"retention must be 1..{MAX_RETENTION_SECONDS} seconds")
    if Property.objects.filter(plug=plug, name__iexact=name).exists():
        raise PlugError(f"{plug.name} already has a property {name!r}", status=409)
    try:
        with transaction.atomic():
            return Property.objects.create(
                plug=plug,
                name=name,
                type=type,
                access=access,
                publish=publish,
                min=min,
                max=max,
                retention=retention,
                description=_text(description, "description"),
            )
    except IntegrityError:  # a concurrent first write created it
        raise PlugError(f"{plug.name} already has a property {name!r}", status=409)
