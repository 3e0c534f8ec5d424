"""Who may read and write whose data (SPEC §3, §5): one place for the rule.

- the account (master password, user key) reads and writes every plug of the account;
- a plug reads and writes its own data, the things it controls (with the rights the thing's
  `perm.ctrl` granted), and the plugs its own `perm.of.r` / `perm.of.w` list (null = all);
- a gateway key acts as each of its listed devices;
- an API client key reaches its context (account, app and its things, listed devices) within
  its scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.models import Control, Plug
from plugboard.principals import Principal

ALL = None  # "every plug of the account"


@dataclass(frozen=True)
class Reach:
    """The plugs a principal may read or write: `ids` or, when `everything`, the whole account."""

    everything: bool
    ids: frozenset[str]

    def allows(self, plug_id: str) -> bool:
        return self.everything or plug_id in self.ids


def _plug_reach(principal: Principal, mode: str) -> Reach:
    assert principal.plug_id is not None
    own = set(principal.plug_ids or (principal.plug_id,))
    perms = Plug.objects.filter(id__in=own).values_list("perm", flat=True)
    for perm in perms:
        listed = ((perm or {}).get("of") or {}).get(mode, [])
        if listed is ALL:
            return Reach(True, frozenset())
        own.update(i for i in listed if isinstance(i, str))
    controlled = Control.objects.filter(controller_id__in=principal.plug_ids or (principal.plug_id,))
    own.update(thing for thing, rights in controlled.values_list("thing_id", "rights") if mode in rights)
    return Reach(False, frozenset(own))


def _apiclient_reach(principal: Principal, mode: str) -> Reach:
    scope = "device:read-data" if mode == "r" else "device:write-data"
    if not principal.has_scope(scope):
        return Reach(False, frozenset())
    if principal.context_type == "account":
        return Reach(True, frozenset())
    ids = set(principal.context_ids)
    if principal.context_type == "app" and principal.plug_id:
        ids.update(Control.objects.filter(controller_id=principal.plug_id).values_list("thing_id", flat=True))
    return Reach(False, frozenset(ids))


def reach(principal: Principal, mode: str) -> Reach:
    """The plugs `principal` may read (`mode="r"`) or write (`mode="w"`) data of."""
    if principal.is_account:
        return Reach(True, frozenset())
    if principal.is_plug:
        return _plug_reach(principal, mode)
    return _apiclient_reach(principal, mode)


def own_publisher_id(principal: Principal) -> str:
    """The `of` of a record the principal publishes without naming one."""
    if principal.is_plug and principal.plug_id:
        return principal.plug_id
    if principal.is_apiclient and principal.context_type == "app" and principal.plug_id:
        return principal.plug_id
    return principal.account_id


def may_write_all(principal: Principal, plug_ids: Iterable[str]) -> bool:
    r = reach(principal, "w")
    return all(r.allows(i) for i in plug_ids)
