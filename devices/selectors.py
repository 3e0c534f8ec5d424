"""Plug look-ups (reads) shared by both dialects."""

from __future__ import annotations

from django.db.models import QuerySet

from devices.models import Plug, Property
from plugboard.errors import ApiError
from plugboard.principals import Principal

# Longer than any plug id or name (64) and any property name (a channel: 200 bytes).
MAX_REF = 200


def plugs_of_account(*, principal: Principal) -> QuerySet[Plug]:
    return Plug.objects.filter(account_id=principal.account_id)


def plug_resolve(*, principal: Principal, ref: str) -> Plug:
    """A plug by id, name (case-insensitive) or `_this_` (the caller's own plug).

    Another account's plug is reported exactly like a missing one (404): existence must not
    leak across accounts.
    """
    plugs = plugs_of_account(principal=principal)
    if len(ref) > MAX_REF:  # no id or name is this long (and SQLite refuses so long a LIKE)
        raise ApiError(404, f"no device {ref[:MAX_REF]}…")
    if ref == "_this_":
        if not principal.plug_id:
            raise ApiError(404, "_this_ names the device of a device key; these credentials have none")
        plug = plugs.filter(id=principal.plug_id).first()
    elif ref.startswith("dev-"):
        plug = plugs.filter(id=ref).first()
    else:
        plug = plugs.filter(name__iexact=ref).first()
    if plug is None:
        raise ApiError(404, f"no device {ref}")
    return plug


def property_resolve(*, plug: Plug, ref: str) -> Property:
    """A property of a plug by id or name (case-insensitive)."""
    if len(ref) > MAX_REF:
        raise ApiError(404, f"device {plug.id} has no property {ref[:MAX_REF]}…")
    props = Property.objects.filter(plug=plug)
    prop = props.filter(id=ref).first() if ref.startswith("_prp_") else props.filter(name__iexact=ref).first()
    if prop is None:
        raise ApiError(404, f"device {plug.id} has no property {ref}")
    return prop
