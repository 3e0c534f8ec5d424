"""The v3 (Connio) management API's writes (SPEC §6): devices and their properties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from devices.access import (
    access_property_to_change,
    may_change_account,
    may_delete_account,
)
from devices.models import INHERITED_SETTINGS, Control, DeviceProfile, Plug, ProfileProperty, Property
from devices.services.fields import (
    LOCATION,
    MAX_RETENTION_SECONDS,
    V3_KEY,
    PlugError,
    fits_float,
    location_validate,
    tags_field,
    text_field,
    validate_name,
)
from devices.services.plugs import Enrolled, plug_create
from plugboard.channels import BadChannel, validate_channel
from plugboard.models import Account
from plugboard.principals import Principal


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # "leave this field as it is"


@dataclass(frozen=True)
class DeviceFields:
    """What a v3 create or update sets, in plug words; `KEEP` leaves a field alone.

    `location` is a CloudPlugs location or None (removed); `extras` are merged into
    `props[V3_KEY]` (a None value removes the key); `apps` are controller ids or names;
    `profile` is a device profile id or name (case-insensitive), or None (no profile).
    """

    name: Any = KEEP
    friendly_name: Any = KEEP
    description: Any = KEEP
    tags: Any = KEEP
    status: Any = KEEP
    location: Any = KEEP
    extras: dict[str, Any] | None = None
    apps: Any = KEEP
    profile: Any = KEEP


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
        plug.friendly_name = text_field(fields.friendly_name, "friendlyName", 120)
    if fields.description is not KEEP:
        plug.description = text_field(fields.description, "description")
    if fields.tags is not KEEP:
        plug.tags = tags_field(fields.tags)
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


def profile_kind(plug_kind: str) -> str:
    """The kind of profile a plug of `plug_kind` is made from: an app's is an app profile."""
    return DeviceProfile.Kind.APP if plug_kind == Plug.Kind.CONTROLLER else DeviceProfile.Kind.DEVICE


@transaction.atomic
def device_create(*, account: Account | str, fields: DeviceFields, kind: str = Plug.Kind.THING) -> Enrolled:
    """A plug created through the v3 management API, with its device key and its apps; an app
    (`kind` controller) is made from an app profile, a device from a device profile."""
    account_id = account if isinstance(account, str) else account.id
    if not isinstance(fields.name, str) or not fields.name:
        raise PlugError("name is required")
    # Deferred: devices.services.profiles imports this module (KEEP and the property rules).
    from devices.services.profiles import plug_profile_set, profile_lookup

    draft = Plug(account_id=account_id, props={})
    _apply(draft, fields)
    profile = None
    if fields.profile is not KEEP and fields.profile is not None:
        profile = profile_lookup(account_id=account_id, ref=fields.profile, kind=profile_kind(kind))
    enrolled = plug_create(
        account=account_id,
        kind=kind,
        name=draft.name,
        props=draft.props,
        friendly_name=draft.friendly_name,
        description=draft.description,
        tags=draft.tags,
        status=draft.status,
        profile=profile,
    )
    if profile is not None:
        plug_profile_set(plug=enrolled.plug, profile=profile)
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
    if fields.profile is not KEEP:
        # Deferred: devices.services.profiles imports this module.
        from devices.services.profiles import plug_profile_set, profile_lookup

        profile = None
        if fields.profile is not None:
            profile = profile_lookup(
                account_id=locked.account_id, ref=fields.profile, kind=profile_kind(locked.kind)
            )
        if (profile.id if profile else None) != locked.profile_id:
            plug_profile_set(plug=locked, profile=profile)
    if fields.apps is not KEEP:
        _apps_set(locked, _apps_resolve(locked.account_id, fields.apps))
    return locked


def property_settings(
    *,
    type: str,
    access: str,
    publish: str,
    min: float | None,
    max: float | None,
    retention: int | None,
    description: Any,
    friendly_name: Any = "",
    tags: Any = (),
    measurement: Any = None,
) -> dict[str, Any]:
    """A property's settings checked as one whole (SPEC §4 rule 4): the fields to set, on a
    device's `Property` or a profile's `ProfileProperty` alike. `friendly_name`, `tags` and
    `measurement` (Connio's `{type, unit: {label, symbol}}`) describe it; no point is checked
    against them."""
    for field, value, allowed in (
        ("type", type, Property.Type.values),
        ("access", access, Property.Access.values),
        ("publish", publish, Property.Publish.values),
    ):
        if value not in allowed:
            raise PlugError(f"{field} must be one of {', '.join(allowed)}")
    for field, bound in (("min", min), ("max", max)):
        if bound is not None and not fits_float(bound):
            raise PlugError(f"boundaries.{field} must be a number")
    if (min is not None or max is not None) and type not in (Property.Type.NUMBER, Property.Type.ANY):
        raise PlugError(f"boundaries apply to numbers; a {type} property has none")
    if min is not None and max is not None and min > max:
        raise PlugError("boundaries.min must not exceed boundaries.max")
    whole = isinstance(retention, int) and not isinstance(retention, bool)
    if retention is not None and not (whole and 0 < retention <= MAX_RETENTION_SECONDS):
        raise PlugError(f"retention must be 1..{MAX_RETENTION_SECONDS} seconds")
    return {
        "type": type,
        "access": access,
        "publish": publish,
        "min": min,
        "max": max,
        "retention": retention,
        "description": text_field(description, "description"),
        "friendly_name": text_field(friendly_name, "friendlyName", 120),
        "tags": tags_field(list(tags) if isinstance(tags, tuple) else tags),
        "measurement": measurement_field(measurement),
    }


MAX_MEASUREMENT_TEXT = 120


def measurement_field(value: Any) -> dict[str, Any] | None:
    """Connio's measurement: `{type?, unit?: {label?, symbol?}}` of short strings, or none."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"type", "unit"}:
        raise PlugError('measurement must be an object {"type"?, "unit"?: {"label"?, "symbol"?}}')
    unit = value.get("unit")
    if unit is not None and (not isinstance(unit, dict) or set(unit) - {"label", "symbol"}):
        raise PlugError('measurement.unit must be an object {"label"?, "symbol"?}')
    texts = [value.get("type"), *((unit or {}).get(k) for k in ("label", "symbol"))]
    if not all(t is None or (isinstance(t, str) and len(t) <= MAX_MEASUREMENT_TEXT) for t in texts):
        raise PlugError(
            f"measurement's type, unit.label and unit.symbol are strings of at most {MAX_MEASUREMENT_TEXT}"
        )
    return value


def property_definition_checked(name: str, **settings: Any) -> dict[str, Any]:
    """A new property's name (a channel) and settings checked; the settings to store."""
    try:
        validate_channel(name)
    except BadChannel as exc:
        raise PlugError(f"name: {exc}")
    return property_settings(**settings)


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
    **described: Any,
) -> Any:
    """A property of `plug` defined ahead of its first data point (SPEC §4 rule 4); `described`:
    `friendly_name`, `tags`, `measurement` (see `property_settings`).

    Its name is the channel its points are written to; names are unique per plug, ignoring case.
    """
    settings = property_definition_checked(
        name,
        type=type,
        access=access,
        publish=publish,
        min=min,
        max=max,
        retention=retention,
        description=description,
        **described,
    )
    existing = Property.objects.select_for_update().filter(plug=plug, name__iexact=name).first()
    if existing is not None and existing.inherited_from_id is not None:
        # The device overrides what its profile declares: the row (and its data) becomes its own.
        for field, value in settings.items():
            setattr(existing, field, value)
        existing.inherited_from = None
        existing.save()
        return existing
    if existing is not None:
        raise PlugError(f"{plug.name} already has a property {name!r}", status=409)
    try:
        with transaction.atomic():
            return Property.objects.create(plug=plug, name=name, **settings)
    except IntegrityError:  # a concurrent first write created it
        raise PlugError(f"{plug.name} already has a property {name!r}", status=409)


def property_settings_change(row: Property | ProfileProperty, changes: dict[str, Any]) -> None:
    """Set on `row` (a device's or a profile's property) the settings `changes` names (`KEEP`
    or absent: as it is); the settings that result are checked as one whole."""
    merged = {f: getattr(row, f) if changes.get(f, KEEP) is KEEP else changes[f] for f in INHERITED_SETTINGS}
    for field, value in property_settings(**merged).items():
        setattr(row, field, value)


@transaction.atomic
def property_update(
    *,
    principal: Principal,
    prop: Property,
    type: Any = KEEP,
    access: Any = KEEP,
    publish: Any = KEEP,
    min: Any = KEEP,
    max: Any = KEEP,
    retention: Any = KEEP,
    description: Any = KEEP,
    friendly_name: Any = KEEP,
    tags: Any = KEEP,
    measurement: Any = KEEP,
) -> Property:
    """Change a property's settings; `KEEP` (the default) leaves a field as it is.

    The settings that result are checked as a whole, with `property_define`'s rules (so a
    string property keeps no boundaries, and min ≤ max). The name is the channel the points
    are written to and cannot change; the latest value and the stored points stay. Who may:
    whoever may change the plug through the v3 management API (never a device key); another
    account's property is a 404.
    """
    access_property_to_change(principal, prop)
    locked = Property.objects.select_for_update().get(pk=prop.pk)
    given = {
        "type": type,
        "access": access,
        "publish": publish,
        "min": min,
        "max": max,
        "retention": retention,
        "description": description,
        "friendly_name": friendly_name,
        "tags": tags,
        "measurement": measurement,
    }
    property_settings_change(locked, given)
    locked.inherited_from = None  # changed on the device: its own now, whatever its profile says
    locked.save()
    return locked


@transaction.atomic
def account_update(
    *,
    principal: Principal,
    default_retention: Any = KEEP,
    friendly_name: Any = KEEP,
    description: Any = KEEP,
    tags: Any = KEEP,
    is_active: Any = KEEP,
) -> Account:
    """Change the account the caller acts in; `KEEP` leaves a field as it is.

    `default_retention` (seconds, or None for none) is the TTL of points that carry no
    `expire_at`/`ttl` and whose property has no retention (SPEC §4 rule 3); it applies to the
    points written after the change. Only the account itself (master password, user key) may,
    or its parent acting in it; `is_active` (v3 `status`) only the parent: an account that
    suspended itself could not sign in to undo it.
    """
    if not may_change_account(principal):
        raise PlugError("only the account (master password or user key) may change its settings", status=403)
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    if default_retention is not KEEP:
        whole = isinstance(default_retention, int) and not isinstance(default_retention, bool)
        if default_retention is not None and not (whole and 0 < default_retention <= MAX_RETENTION_SECONDS):
            raise PlugError(f"defaultRetention must be 1..{MAX_RETENTION_SECONDS} seconds")
        account.default_retention = default_retention
    if friendly_name is not KEEP:
        account.friendly_name = text_field(friendly_name, "friendlyName", 120)
    if description is not KEEP:
        account.description = text_field(description, "description")
    if tags is not KEEP:
        account.tags = tags_field(tags)
    if is_active is not KEEP and is_active != account.is_active:
        if not may_delete_account(principal):
            raise PlugError("an account's status is changed by its parent account", status=403)
        account.is_active = bool(is_active)
    account.save()
    return account
