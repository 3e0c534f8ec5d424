"""Plug look-ups (reads) shared by both dialects."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from devices import access
from devices.models import Control, DeviceLogEntry, DeviceProfile, Plug, ProfileProperty, Property
from plugboard.errors import ApiError
from plugboard.models import Account, ApiKey, User
from plugboard.principals import Principal

# Longer than any plug id or name (64) and any property name (a channel: 200 bytes).
MAX_REF = 200


def plugs_of_account(*, principal: Principal) -> QuerySet[Plug]:
    return Plug.objects.filter(account_id=principal.account_id)


@functools.cache
def _plug_by_id_sql() -> str:
    return f"SELECT * FROM {Plug._meta.db_table} WHERE account_id = %s AND id = %s"


def plug_by_id(*, account_id: str, plug_id: str) -> Plug | None:
    """One of the account's plugs by id. Every data request resolves its plug: the hand-written
    query costs half the CPU of the ORM's compiled one (bench/command_latency.py)."""
    return next(iter(Plug.objects.raw(_plug_by_id_sql(), [account_id, plug_id])), None)


def plug_resolve(*, principal: Principal, ref: str) -> Plug:
    """A plug by id, name (case-insensitive) or `_this_` (the caller's own plug).

    Another account's plug is reported exactly like a missing one (404): existence must not
    leak across accounts.
    """
    if len(ref) > MAX_REF:  # no id or name is this long (and SQLite refuses so long a LIKE)
        raise ApiError(404, f"no device {ref[:MAX_REF]}…")
    if ref == "_this_":
        if not principal.plug_id:
            raise ApiError(404, "_this_ names the device of a device key; these credentials have none")
        plug = plug_by_id(account_id=principal.account_id, plug_id=principal.plug_id)
    elif ref.startswith("dev-"):
        plug = plug_by_id(account_id=principal.account_id, plug_id=ref)
    else:
        plug = plugs_of_account(principal=principal).filter(name__iexact=ref).first()
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


def plug_device_key(*, plug: Plug) -> ApiKey | None:
    """The device key created with the plug (its `auth`), not a gateway key listing it."""
    return ApiKey.objects.filter(plug=plug, kind=ApiKey.Kind.DEVICE).order_by("date_created").first()


def plugs_visible(*, principal: Principal, kind: str | None = None) -> QuerySet[Plug]:
    """The plugs the caller may look at through the v3 management API, with their controllers;
    `kind` controller: the apps (`/v3/apps`), thing: the devices, None: all (as `/v3/devices`
    has always listed them)."""
    reach = access.management_reach(principal, kind or Plug.Kind.THING)
    rows = plugs_of_account(principal=principal).prefetch_related("controlled_by")
    if kind:
        rows = rows.filter(kind=kind)
    return rows if reach.everything else rows.filter(id__in=reach.ids)


def properties_of(*, plug: Plug) -> QuerySet[Property]:
    return Property.objects.filter(plug=plug).order_by("name")


def device_log_of(*, plug: Plug) -> QuerySet[DeviceLogEntry]:
    """A plug's device log, newest first."""
    return DeviceLogEntry.objects.filter(plug=plug).order_by("-id")


def account_of(*, principal: Principal) -> Account:
    """The caller's own account."""
    return Account.objects.get(pk=principal.account_id)


def apiclients_of(*, principal: Principal) -> QuerySet[ApiKey]:
    """The account's API client keys (the caller's right to see them is checked by the view)."""
    return ApiKey.objects.filter(account_id=principal.account_id, kind=ApiKey.Kind.APICLIENT)


def plug_accounts(*, plug_ids: Iterable[str]) -> dict[str, str]:
    """The account of each plug id that names a plug (ids that name none are left out)."""
    ids = [i for i in set(plug_ids) if i.startswith("dev-")]
    if not ids:
        return {}
    return dict(Plug.objects.filter(id__in=ids).values_list("id", "account_id"))


# --- MQTT device mirroring (SPEC §13) -------------------------------------------------------------


@dataclass(frozen=True)
class MirroredPlug:
    """What a plug's mirror topics are spelled with: its name, and the apps it is plugged into
    (id, name)."""

    id: str
    name: str
    apps: tuple[tuple[str, str], ...]


def account_public_name(*, account_id: str) -> str:
    """The account's name as `GET /v3/accounts/_this_` shows it ("" if there is no account)."""
    account = Account.objects.filter(pk=account_id).only("name", "email").first()
    return account.public_name if account else ""


def mirrored_plugs(*, account_id: str, plug_ids: Iterable[str]) -> dict[str, MirroredPlug]:
    """The account's plugs among `plug_ids`, with the apps each is plugged into: two queries."""
    ids = list(set(plug_ids))
    names = dict(Plug.objects.filter(account_id=account_id, id__in=ids).values_list("id", "name"))
    apps: dict[str, list[tuple[str, str]]] = {}
    plugged = Control.objects.filter(thing_id__in=list(names), controller__account_id=account_id)
    for thing, app_id, app_name in plugged.values_list("thing_id", "controller_id", "controller__name"):
        apps.setdefault(thing, []).append((app_id, app_name))
    return {i: MirroredPlug(i, name, tuple(sorted(apps.get(i, ())))) for i, name in names.items()}


def plug_named(*, account_id: str, ref: str, kind: str | None = None) -> Plug | None:
    """One of the account's plugs by id or name (case-insensitive), of `kind` if given."""
    if len(ref) > MAX_REF:
        return None
    plugs = Plug.objects.filter(account_id=account_id)
    if kind:
        plugs = plugs.filter(kind=kind)
    return (plugs.filter(id=ref) if ref.startswith("dev-") else plugs.filter(name__iexact=ref)).first()


def plugged_into(*, app_id: str, plug_id: str) -> bool:
    """Whether the plug is plugged into (controlled by) the app."""
    return Control.objects.filter(controller_id=app_id, thing_id=plug_id).exists()


def things_controlled_by(*, plug: Plug) -> list[str]:
    """The ids of the things a controller controls, in the order it took control."""
    return list(Control.objects.filter(controller=plug).order_by("id").values_list("thing_id", flat=True))


def profiles_of(*, principal: Principal, kind: str = DeviceProfile.Kind.DEVICE) -> QuerySet[DeviceProfile]:
    """The account's device (or app) profiles, by name, with their base profiles (the caller's
    right to see them is checked by the view)."""
    return (
        DeviceProfile.objects.filter(account_id=principal.account_id, kind=kind)
        .select_related("base_profile")
        .order_by("name", "id")
    )


def profile_properties_of(*, profile: DeviceProfile) -> QuerySet[ProfileProperty]:
    """The properties a profile declares itself (not its base profiles')."""
    return ProfileProperty.objects.filter(profile=profile).order_by("name")


# --- users and sub-accounts ----------------------------------------------------------------------

# Deeper nesting than this is not looked through (a sub-account chain is a handful deep).
MAX_ACCOUNT_DEPTH = 16


def account_is_descendant(*, account_id: str, ancestor_id: str) -> bool:
    """Whether `account_id` is a sub-account of `ancestor_id` (or of one of its sub-accounts):
    one indexed look-up per level, walking up from `account_id`."""
    current: str | None = account_id
    for _ in range(MAX_ACCOUNT_DEPTH):
        current = Account.objects.filter(pk=current).values_list("parent_id", flat=True).first()
        if current is None:
            return False
        if current == ancestor_id:
            return True
    return False


def account_descendants(*, account_id: str) -> list[str]:
    """The ids of the account's sub-accounts and theirs, level by level (oldest first within a
    level): one query per level, at most MAX_ACCOUNT_DEPTH levels."""
    found: list[str] = []
    level = [account_id]
    for _ in range(MAX_ACCOUNT_DEPTH):
        level = list(
            Account.objects.filter(parent_id__in=level)
            .order_by("date_created", "id")
            .values_list("id", flat=True)
        )
        if not level:
            break
        found.extend(level)
    return found


def subaccounts_of(*, principal: Principal) -> QuerySet[Account]:
    """The direct sub-accounts of the account the caller acts in, oldest first."""
    return Account.objects.filter(parent_id=principal.account_id).order_by("date_created", "id")


def users_of(*, principal: Principal) -> QuerySet[User]:
    """The account's users, by email."""
    return User.objects.filter(account_id=principal.account_id).order_by("email", "id")


def user_resolve(*, principal: Principal, user_id: str) -> User:
    """A user of the caller's account by id; another account's is a 404 like a missing one."""
    user = users_of(principal=principal).select_related("key").filter(pk=user_id[:MAX_REF]).first()
    if user is None:
        raise ApiError(404, f"no user {user_id[:MAX_REF]}")
    return user
