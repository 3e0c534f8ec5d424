"""Plug services: creation, enrollment, control, changes (SPEC §3, §5)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from devices.models import Plug, ProductionTemplate, TemplateHwid, default_perm
from plugboard.models import Account, ApiKey
from plugboard.services import key_create

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


class PlugError(Exception):
    """A refused plug change; `status` is the HTTP status the dialects answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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
    taken = {n.lower() for n in Plug.objects.filter(account_id=account_id, name__istartswith=base)
             .values_list("name", flat=True)}
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
    if props is not None and not isinstance(props, dict):
        raise PlugError("props must be a JSON object")
    plug = Plug(
        account_id=account_id,
        name=name,
        kind=kind,
        origin=origin,
        hwid=hwid or "",
        props=props or {},
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
    key, secret = key_create(account=account_id, kind=ApiKey.Kind.DEVICE, plug=plug, name=f"{name} device key")
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
