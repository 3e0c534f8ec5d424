"""Plugs: creation, changes and removal, whichever dialect asks (SPEC §3, §5)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from devices import access
from devices.models import Control, Plug, ProductionTemplate, TemplateHwid, default_perm
from devices.selectors import plug_device_key
from devices.services.fields import (
    V3_KEY,
    PlugError,
    perm_validate,
    props_merge,
    props_validate,
    validate_name,
)
from plugboard.models import Account, ApiKey
from plugboard.principals import Principal
from plugboard.services import key_create, key_regenerate


@dataclass(frozen=True)
class Enrolled:
    plug: Plug
    auth: str  # the plug's device key secret
    key: ApiKey
    created: bool = True


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
        perm=_perm_within_account(account_id, perm_validate(perm)) if perm is not None else default_perm(),
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


@transaction.atomic
def plug_props_update(*, principal: Principal | None, plug: Plug, changes: Any) -> dict[str, Any]:
    """Merge `changes` into the plug's props (a null value removes the key); the new props.

    The row is locked while merging so two concurrent PATCHes of different keys both land.
    `principal=None` is the platform itself (enrollment).
    """
    if principal is not None and not access.may_manage_plug(principal, plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    locked.props = props_merge(locked.props or {}, changes)
    locked.save(update_fields=["props", "date_modified"])
    plug.props = locked.props
    return locked.props


@transaction.atomic
def plug_prop_remove(*, principal: Principal, plug: Plug, key: str) -> int:
    """Remove one prop; 1 if it was there, else 0."""
    if not access.may_manage_plug(principal, plug):
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
    if not access.may_manage_plug(principal, plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    # The property dialect keeps its device fields under V3_KEY: clearing CloudPlugs props spares them.
    kept = {k: v for k, v in (locked.props or {}).items() if k == V3_KEY}
    removed = len(locked.props or {}) - len(kept)
    locked.props = kept
    locked.save(update_fields=["props", "date_modified"])
    plug.props = kept
    return removed


@transaction.atomic
def plugs_unenroll(*, principal: Principal, plug_ids: Iterable[str]) -> int:
    """Delete the listed plugs the caller may unenroll; how many were deleted.

    The account may unenroll any of its plugs, a plug only itself. Ids the caller may not
    unenroll (another plug, another account's, unknown) are skipped, not reported: the count
    tells the caller what happened without revealing what exists elsewhere. Published data
    points stay (they are history); keys, properties, controls and the device log go with the plug.
    """
    plugs = Plug.objects.filter(account_id=principal.account_id, id__in=list(plug_ids))
    allowed = [p.id for p in plugs.only("id", "account_id") if access.may_unenroll(principal, p)]
    if not allowed:
        return 0
    Plug.objects.filter(id__in=allowed).delete()
    return len(allowed)


UNSET: Any = object()


def _perm_within_account(account_id: str, perm: dict[str, Any]) -> dict[str, Any]:
    """A `perm.of` may name only plugs of the plug's own account (unknown and foreign ids alike
    are refused, so the answer does not tell which exist elsewhere)."""
    for mode, ids in (perm.get("of") or {}).items():
        if ids and (foreign := access.foreign_plug_ids(account_id, ids)):
            raise PlugError(f"perm.of.{mode} names no plug of this account: {', '.join(foreign[:5])}")
    return perm


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
    if not access.may_manage_plug(principal, plug):
        raise PlugError("these credentials may not change this plug", status=403)
    locked = Plug.objects.select_for_update().get(pk=plug.pk)
    fields = ["date_modified"]
    if name is not UNSET:
        locked.name = validate_name(name)
        fields.append("name")
    if status is not UNSET:
        if status not in Plug.Status.values:
            raise PlugError(f"status must be one of {', '.join(Plug.Status.values)}")
        if status != locked.status and not access.may_administer_plug(principal, locked):
            raise PlugError("only the account may change a plug's status", status=403)
        locked.status = status
        fields.append("status")
    if perm is not UNSET:
        new_perm = _perm_patched(locked.perm or default_perm(), perm)
        if new_perm["of"] != (locked.perm or {}).get("of"):
            if not access.may_administer_plug(principal, locked):
                raise PlugError("only the account may change perm.of (what a plug may reach)", status=403)
            _perm_within_account(locked.account_id, new_perm)
        if new_perm["ctrl"] != (locked.perm or {}).get("ctrl"):
            Control.objects.filter(thing=locked).update(rights=new_perm["ctrl"])
        locked.perm = new_perm
        fields.append("perm")
    if props is not UNSET:
        locked.props = props_merge(locked.props or {}, props)
        fields.append("props")
    try:
        with transaction.atomic():
            locked.save(update_fields=fields)
    except IntegrityError:
        raise PlugError(f"a plug named {locked.name!r} already exists", status=409)
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
