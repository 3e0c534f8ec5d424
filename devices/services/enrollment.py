"""Enrollment and control (SPEC §5): production things, prototypes, controllers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from devices import access
from devices.models import Control, Plug, TemplateHwid, default_perm
from devices.selectors import plug_device_key
from devices.services.fields import PlugError, props_merge
from devices.services.plugs import Enrolled, device_key_regenerate, plug_create, plug_props_update
from plugboard.models import Account
from plugboard.services import key_secret

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
        if entry.plug_id is not None:
            plug = Plug.objects.get(pk=entry.plug_id)
            if plug.is_disabled:
                raise PlugError("plug is disabled", status=403)
            if props:
                plug_props_update(principal=None, plug=plug, changes=props)
            key, auth = device_key_regenerate(plug=plug)
            return Enrolled(plug=plug, auth=auth, key=key, created=False)
        return template_entry_enroll(entry=entry, props=props)


def template_entry_enroll(*, entry: TemplateHwid, props: dict[str, Any] | None = None) -> Enrolled:
    """The production thing of a template's hwid entry, not yet enrolled, made now (the caller
    holds the entry's row): the template's perm and props (overlaid with `props`) and the
    entry's control password. Channel-dialect enrollment and zero-touch provisioning use it."""
    template = entry.template
    enrolled = plug_create(
        account=template.account_id,
        kind=Plug.Kind.THING,
        origin=Plug.Origin.PRODUCTION,
        hwid=entry.hwid,
        props=props_merge(template.props or {}, props or {}),
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
    if not access.same_account(controller.account_id, thing.account_id):
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
