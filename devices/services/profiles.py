"""Device profiles (SPEC §6 "Fleets"): create, change, delete, their properties, and the
materialized inheritance that gives every device its profile's properties.

The one rule: a device's effective property is its own if it has one, else its profile's, else
its profile's base profiles' (the nearest declaration wins). It is applied here, when a profile,
a profile property or a device's profile changes, never on the write path: each device holds
every effective profile property as a `Property` row of its own with `inherited_from` set, so
`data.services` reads a device's rows exactly as before (no per-point cost, no profile chain).
A device's own property (`inherited_from` None) of the same name (ignoring case) is never
touched by a profile: that is the device's override.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, RestrictedError
from django.db.models.functions import Lower

from devices.access import (
    access_profile_property_to_change,
    access_profile_to_change,
    access_property_to_change,
    may_modify_profiles,
    same_account,
)
from devices.models import INHERITED_SETTINGS, DeviceProfile, Plug, ProfileProperty, Property
from devices.services.fields import PlugError, tags_field, text_field, url_field, validate_name
from devices.services.management import KEEP, property_definition_checked, property_settings_change
from plugboard.identifiers import is_profile_id, new_app_profile_id
from plugboard.principals import Principal

# Longer than any profile id or name (64).
MAX_REF = 200
# No chain of base profiles is longer (a guard against a cycle that slipped in concurrently).
MAX_DEPTH = 64


@dataclass(frozen=True)
class ProfileFields:
    """What a create or update sets, in model words; `KEEP` leaves a field alone. `base_profile`
    is a profile id or name (or None: no base)."""

    name: Any = KEEP
    friendly_name: Any = KEEP
    description: Any = KEEP
    tags: Any = KEEP
    device_class: Any = KEEP
    product_name: Any = KEEP
    vendor_name: Any = KEEP
    version: Any = KEEP
    image_url: Any = KEEP
    base_profile: Any = KEEP


def kind_word(kind: str) -> str:
    """`device profile` or `app profile`, for messages."""
    return f"{kind} profile"


def _refuse_unless_modifier(principal: Principal, kind: str) -> None:
    if not may_modify_profiles(principal, kind):
        raise PlugError(f"these credentials may not change {kind_word(kind)}s", status=403)


def profile_lookup(
    *, account_id: str, ref: Any, kind: str | None = DeviceProfile.Kind.DEVICE
) -> DeviceProfile:
    """A profile of the account of `kind` (None: either) by id or name (case-insensitive);
    another account's, or one of the other kind, is a 404."""
    word = kind_word(kind) if kind else "profile"
    if not isinstance(ref, str) or not ref:
        raise PlugError(f"a {word} is named by its id or name (a string)")
    if len(ref) > MAX_REF:
        raise PlugError(f"no {word} {ref[:MAX_REF]}…", status=404)
    profiles = DeviceProfile.objects.filter(account_id=account_id)
    if kind:
        profiles = profiles.filter(kind=kind)
    found = (
        profiles.filter(id=ref).first() if is_profile_id(ref) else profiles.filter(name__iexact=ref).first()
    )
    if found is None:
        raise PlugError(f"no {word} {ref}", status=404)
    return found


def _chain(profile: DeviceProfile) -> list[DeviceProfile]:
    """The profile, then its base, then the base's base…"""
    chain = [profile]
    while chain[-1].base_profile_id is not None and len(chain) < MAX_DEPTH:
        base = DeviceProfile.objects.filter(pk=chain[-1].base_profile_id).first()
        if base is None or base in chain:
            break
        chain.append(base)
    return chain


def effective_properties(profile: DeviceProfile) -> dict[str, ProfileProperty]:
    """Folded name → the declaration a device of `profile` inherits: the nearest wins."""
    chain = _chain(profile)
    depth = {p.id: i for i, p in enumerate(chain)}
    found: dict[str, ProfileProperty] = {}
    rows = sorted(ProfileProperty.objects.filter(profile_id__in=depth), key=lambda r: depth[r.profile_id])
    for row in rows:
        found.setdefault(row.name.lower(), row)
    return found


def _with_descendants(profile: DeviceProfile) -> list[DeviceProfile]:
    """`profile` and every profile whose chain of bases reaches it."""
    profiles = {p.id: p for p in DeviceProfile.objects.filter(account_id=profile.account_id)}
    children: dict[str, list[str]] = {}
    for p in profiles.values():
        if p.base_profile_id:
            children.setdefault(p.base_profile_id, []).append(p.id)
    seen, todo = {profile.id}, [profile.id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return [profiles[i] for i in seen if i in profiles]


def _copy(source: ProfileProperty) -> dict[str, Any]:
    return {field: getattr(source, field) for field in INHERITED_SETTINGS}


def _sync(plugs: QuerySet[Plug], effective: dict[str, ProfileProperty], only: Iterable[str] | None) -> None:
    """Make the inherited rows of `plugs` (all of one profile) match `effective`, in bulk: a row
    per (name, statement), never a statement per device. `only`: the folded names that changed
    (None: all of them, and inherited rows no longer effective become the device's own)."""
    rows = Property.objects.filter(plug__in=plugs)
    names = list(effective) if only is None else [n for n in only if n in effective]
    if only is None:
        # A name the profile chain no longer declares: the device keeps the row (and its data)
        # as its own.
        stale = (
            rows.filter(inherited_from__isnull=False)
            .annotate(folded=Lower("name"))
            .exclude(folded__in=list(effective))
        )
        Property.objects.filter(pk__in=stale.values("pk")).update(inherited_from=None)
    for folded in names:
        source = effective[folded]
        rows.filter(inherited_from__isnull=False, name__iexact=source.name).update(
            inherited_from=source, **_copy(source)
        )
        missing = plugs.exclude(properties__name__iexact=source.name).values_list("id", flat=True)
        Property.objects.bulk_create(
            (
                Property(plug_id=plug_id, name=source.name, inherited_from=source, **_copy(source))
                for plug_id in missing
            ),
            ignore_conflicts=True,  # a device's first write may have created it meanwhile
        )


def _propagate(profile: DeviceProfile, only: Iterable[str] | None = None) -> None:
    """After `profile` changed: every device of it, or of a profile derived from it."""
    for each in _with_descendants(profile):
        _sync(Plug.objects.filter(profile=each), effective_properties(each), only)


# --- profiles ----------------------------------------------------------------------------------


def _base(account_id: str, ref: Any, *, of: DeviceProfile | None, kind: str) -> DeviceProfile | None:
    if ref is None or ref == "":
        return None
    base = profile_lookup(account_id=account_id, ref=ref, kind=kind)
    if of is not None and of.id in {p.id for p in _chain(base)}:
        raise PlugError(f"{base.name} is {of.name} or derived from it: base profiles cannot be circular")
    return base


def _apply(profile: DeviceProfile, fields: ProfileFields) -> None:
    if fields.name is not KEEP:
        profile.name = validate_name(fields.name)
    if fields.friendly_name is not KEEP:
        profile.friendly_name = text_field(fields.friendly_name, "friendlyName", 120)
    if fields.description is not KEEP:
        profile.description = text_field(fields.description, "description")
    if fields.tags is not KEEP:
        profile.tags = tags_field(fields.tags)
    for field, word in (
        ("device_class", "deviceClass"),
        ("product_name", "productName"),
        ("vendor_name", "vendorName"),
        ("version", "version"),
    ):
        value = getattr(fields, field)
        if value is not KEEP:
            setattr(profile, field, text_field(value, word, 120))
    if fields.image_url is not KEEP:
        profile.image_url = url_field(fields.image_url, "imageUrl")


def _save(profile: DeviceProfile, *, force_insert: bool = False) -> None:
    try:
        with transaction.atomic():
            profile.save(force_insert=force_insert)
    except IntegrityError:
        raise PlugError(f"a profile named {profile.name!r} already exists", status=409)


@transaction.atomic
def profile_create(
    *, principal: Principal, fields: ProfileFields, kind: str = DeviceProfile.Kind.DEVICE
) -> DeviceProfile:
    """A device (or app) profile of the caller's account; its name is unique there among
    profiles of both kinds, ignoring case."""
    _refuse_unless_modifier(principal, kind)
    if not isinstance(fields.name, str) or not fields.name:
        raise PlugError("name is required")
    profile = DeviceProfile(account_id=principal.account_id, kind=kind)
    if kind == DeviceProfile.Kind.APP:
        profile.id = new_app_profile_id()
    _apply(profile, fields)
    if fields.base_profile is not KEEP:
        profile.base_profile = _base(principal.account_id, fields.base_profile, of=None, kind=kind)
    _save(profile, force_insert=True)
    return profile


@transaction.atomic
def profile_update(*, principal: Principal, profile: DeviceProfile, fields: ProfileFields) -> DeviceProfile:
    """Change a profile's fields; a new base profile re-derives what its devices inherit."""
    access_profile_to_change(principal, profile)
    locked = DeviceProfile.objects.select_for_update().get(pk=profile.pk)
    _apply(locked, fields)
    rebase = False
    if fields.base_profile is not KEEP:
        base = _base(principal.account_id, fields.base_profile, of=locked, kind=locked.kind)
        rebase = (base.id if base else None) != locked.base_profile_id
        locked.base_profile = base
    _save(locked)
    if rebase:
        _propagate(locked)
    return locked


@transaction.atomic
def profile_delete(*, principal: Principal, profile: DeviceProfile) -> int:
    """Remove a profile and its property declarations; refused (409) while a device is made
    from it or another profile is based on it. Returns the number of profiles removed."""
    access_profile_to_change(principal, profile)
    word = kind_word(profile.kind)
    locked = DeviceProfile.objects.select_for_update().get(pk=profile.pk)
    used = Plug.objects.filter(profile=locked).count()
    if used:
        made = "app(s)" if locked.kind == DeviceProfile.Kind.APP else "device(s)"
        raise PlugError(
            f"{word} {locked.name} is used by {used} {made}: move or delete them first", status=409
        )
    derived = list(DeviceProfile.objects.filter(base_profile=locked).values_list("name", flat=True)[:5])
    if derived:
        raise PlugError(
            f"{word} {locked.name} is the base of {', '.join(derived)}: change their base first",
            status=409,
        )
    try:
        with transaction.atomic():
            locked.delete()
    except RestrictedError:  # a device made from it meanwhile
        raise PlugError(
            f"{word} {locked.name} is in use: move or delete what is made from it first", status=409
        )
    return 1


# --- profile properties ------------------------------------------------------------------------


@transaction.atomic
def profile_property_define(
    *,
    principal: Principal,
    profile: DeviceProfile,
    name: str,
    type: str = "any",
    access: str = "protected",
    publish: str = "always",
    min: float | None = None,
    max: float | None = None,
    retention: int | None = None,
    description: str = "",
    **described: Any,
) -> ProfileProperty:
    """A property declared on `profile`, with `property_define`'s rules; every device of the
    profile (and of profiles derived from it) gets it, unless it has its own of that name."""
    access_profile_to_change(principal, profile)
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
    clash = f"{kind_word(profile.kind)} {profile.name} already has a property {name!r}"
    if ProfileProperty.objects.filter(profile=profile, name__iexact=name).exists():
        raise PlugError(clash, status=409)
    try:
        with transaction.atomic():
            declared = ProfileProperty.objects.create(profile=profile, name=name, **settings)
    except IntegrityError:
        raise PlugError(clash, status=409)
    _propagate(profile, only=[name.lower()])
    return declared


@transaction.atomic
def profile_property_update(
    *, principal: Principal, declared: ProfileProperty, **changes: Any
) -> ProfileProperty:
    """Change a profile property's settings (`KEEP` leaves one as it is), checked as a whole;
    the devices' inherited rows follow, their own properties stay."""
    profile = access_profile_property_to_change(principal, declared)
    locked = ProfileProperty.objects.select_for_update().get(pk=declared.pk)
    unknown = set(changes) - set(INHERITED_SETTINGS)
    if unknown:
        raise PlugError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    property_settings_change(locked, changes)
    locked.save()
    _propagate(profile, only=[locked.name.lower()])
    return locked


@transaction.atomic
def profile_property_delete(*, principal: Principal, declared: ProfileProperty) -> int:
    """Remove a profile's declaration. Its devices keep their rows of it, with their data, as
    their own, unless a base profile declares the name too: then they inherit that one."""
    profile = access_profile_property_to_change(principal, declared)
    name = declared.name.lower()
    copies = list(Property.objects.filter(inherited_from=declared).values_list("pk", flat=True))
    declared.delete()  # the copies' `inherited_from` is set to null: the devices' own now…
    for each in _with_descendants(profile):  # …unless a base profile declares the name too
        source = effective_properties(each).get(name)
        if source is not None:
            Property.objects.filter(pk__in=copies, plug__profile=each).update(
                inherited_from=source, **_copy(source)
            )
    return 1


def property_delete(*, principal: Principal, prop: Property) -> int:
    """Remove a device's own property definition (its points stay in the channel and a later
    write of the device makes the property again); if the device's profile declares that name,
    the device inherits the declaration again. A row its profile gives it is the profile's to
    remove: 409."""
    plug = access_property_to_change(principal, prop)
    with transaction.atomic():
        locked = Property.objects.select_for_update().filter(pk=prop.pk).first()
        if locked is None:
            raise PlugError(f"no property {prop.id}", status=404)
        if locked.inherited_from_id is not None:
            raise PlugError(
                f"{locked.name} comes from the profile of {plug.name}: remove it from the profile, "
                "or change it on the device to make it the device's own",
                status=409,
            )
        locked.delete()
        if plug.profile_id is not None:
            profile = DeviceProfile.objects.get(pk=plug.profile_id)
            effective = effective_properties(profile)
            if (source := effective.get(locked.name.lower())) is not None:
                Property.objects.create(plug=plug, name=source.name, inherited_from=source, **_copy(source))
    return 1


# --- devices made from a profile ---------------------------------------------------------------


def plug_profile_set(*, plug: Plug, profile: DeviceProfile | None) -> None:
    """Make `plug` a device of `profile` (None: of none) and its inherited rows match: a new
    profile's properties are added, the old one's that the new one lacks stay as the device's
    own (with their data). The caller holds the plug's row (a create, or locked)."""
    if profile is not None and not same_account(profile.account_id, plug.account_id):
        raise PlugError(f"no device profile {profile.id}", status=404)
    if plug.profile_id != (profile.id if profile else None):
        Plug.objects.filter(pk=plug.pk).update(profile=profile)
        plug.profile = profile
    one = Plug.objects.filter(pk=plug.pk)
    if profile is None:
        Property.objects.filter(plug=plug, inherited_from__isnull=False).update(inherited_from=None)
        return
    effective = effective_properties(profile)
    if not Property.objects.filter(plug=plug).exists():  # a new device: one insert
        Property.objects.bulk_create(
            Property(plug=plug, name=source.name, inherited_from=source, **_copy(source))
            for source in effective.values()
        )
        return
    _sync(one, effective, None)
