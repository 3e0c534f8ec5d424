"""The rules of who may do what (SPEC §3, §4, §5, §6, §12): data reach, plugs, the v3
management API, users and sub-accounts, alerts. Part of the one authorization module
(`devices.access`, whose opening names the rules).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from devices.models import Control, DeviceProfile, Plug, Property
from plugboard.errors import ApiError
from plugboard.models import ApiKey
from plugboard.principals import Principal, Scope

ContextType = ApiKey.ContextType
ALL = None  # in `perm.of`: "every plug of the account"


class Mode(StrEnum):
    """Reading or writing a plug's data (the letters of CloudPlugs' `perm`)."""

    READ = "r"
    WRITE = "w"


DATA_SCOPE = {Mode.READ: Scope.READ_DATA, Mode.WRITE: Scope.WRITE_DATA}
# A look at devices, properties, logs and commands through the v3 management API needs one of
# these; a look at apps (controller plugs, `/v3/apps`), one of the app scopes.
MANAGEMENT_READ_SCOPES = (Scope.READ, Scope.READ_DATA, Scope.MODIFY)
APP_READ_SCOPES = (Scope.APP_READ, Scope.APP_READ_DATA, Scope.APP_MODIFY)


def modify_scope(plug_kind: str) -> Scope:
    """The scope that changes a plug of `plug_kind`: `app:modify` for an app (controller)."""
    return Scope.APP_MODIFY if plug_kind == Plug.Kind.CONTROLLER else Scope.MODIFY


@dataclass(frozen=True)
class Reach:
    """The plugs of the principal's account it may read or write: `ids` or, when `everything`,
    the whole account (never another account's: callers filter by account)."""

    everything: bool
    ids: frozenset[str]

    def allows(self, plug_id: str) -> bool:
        return self.everything or plug_id in self.ids


NOWHERE = Reach(False, frozenset())
EVERYWHERE = Reach(True, frozenset())


# --- data: read and write reach ------------------------------------------------------------------


def _plug_reach(principal: Principal, mode: Mode) -> Reach:
    assert principal.plug_id is not None
    own = set(principal.plug_ids or (principal.plug_id,))
    perms = Plug.objects.filter(id__in=own).values_list("perm", flat=True)
    for perm in perms:
        listed = ((perm or {}).get("of") or {}).get(mode.value, [])
        if listed is ALL:
            return EVERYWHERE
        own.update(i for i in listed if isinstance(i, str))
    controlled = Control.objects.filter(controller_id__in=principal.plug_ids or (principal.plug_id,))
    own.update(
        thing for thing, rights in controlled.values_list("thing_id", "rights") if mode.value in rights
    )
    return Reach(False, frozenset(own))


def _context_reach(principal: Principal) -> Reach:
    """The plugs an API client key's context names."""
    if principal.context_type == ContextType.ACCOUNT:
        return EVERYWHERE
    ids = set(principal.context_ids)
    if principal.context_type == ContextType.APP and principal.plug_id:
        ids.update(Control.objects.filter(controller_id=principal.plug_id).values_list("thing_id", flat=True))
    return Reach(False, frozenset(ids))


def in_own_account(principal: Principal, account_id: str | None) -> bool:
    """Whether `account_id` (a plug's, a profile's…; None: no such thing) is the account
    `principal` acts in: the first question of every rule."""
    return account_id is not None and account_id == principal.account_id


def same_account(one: str | None, other: str | None) -> bool:
    """Whether two things (a controller and its thing, a profile and its device, a point and its
    plug) are of one account; nothing of one account reaches into another."""
    return one is not None and one == other


def reach(principal: Principal, mode: Mode) -> Reach:
    """The plugs `principal` may read or write data of."""
    if principal.is_account:
        return EVERYWHERE
    if principal.is_plug:
        return _plug_reach(principal, mode)
    if not principal.has_scope(DATA_SCOPE[mode]):
        return NOWHERE
    return _context_reach(principal)


def may_reach_data(principal: Principal, plug: Plug, mode: Mode, known: Reach | None = None) -> bool:
    """Whether `principal` may read or write `plug`'s data (`known`: its reach, if already read)."""
    if not in_own_account(principal, plug.account_id):
        return False
    if principal.acts_as(plug.id):
        return True
    return (known or reach(principal, mode)).allows(plug.id)


def may_publish_as_account(principal: Principal) -> bool:
    """Only the account publishes records whose `of` is the account's own id."""
    return principal.is_account


def own_publisher_id(principal: Principal) -> str:
    """The `of` of a record the principal publishes without naming one."""
    if principal.is_plug and principal.plug_id:
        return principal.plug_id
    if principal.is_apiclient and principal.context_type == ContextType.APP and principal.plug_id:
        return principal.plug_id
    return principal.account_id


Refusal = tuple[int, str, str]  # HTTP status, receipt code, message


def takes_writes(plug: Plug) -> bool:
    """A disabled plug takes no data: nobody writes for it, through either dialect or MQTT."""
    return not plug.is_disabled


def is_app_context(plugs: list[Plug]) -> bool:
    """An API client's app context names exactly one app: one controller plug."""
    return len(plugs) == 1 and plugs[0].kind == Plug.Kind.CONTROLLER


def write_refusal(
    principal: Principal, of: str, plug: Plug | None, write_reach: Callable[[], Reach]
) -> Refusal | None:
    """Why `principal` may not write a point for `of` (`plug`, if one has that id), or None.

    `write_reach` is asked only when the answer needs it (a batch shares one)."""
    if of == principal.account_id:
        if may_publish_as_account(principal):
            return None
        return 403, "Forbidden", "only the account publishes as its own id"
    if plug is None or not in_own_account(principal, plug.account_id):
        return 403, "Forbidden", f"may not write for {of}"
    if not takes_writes(plug):
        return 403, "Disabled", f"plug {of} is disabled"
    if not principal.acts_as(of) and not write_reach().allows(of):
        return 403, "Forbidden", f"may not write for {of}"
    return None


def writes_as_device(principal: Principal, of: str, *, property_write: bool) -> bool:
    """Whether a write for `of` is the device's own data rather than a command to it.

    In the property dialect (and MQTT's device topics) only the device's own credentials write
    its data; anyone else writing a property sends a command. In the channel dialect `of` names
    the publisher, so an allowed write for `of` is `of`'s own data (SPEC §4 rule 5)."""
    return principal.acts_as(of) or not property_write


def property_refusal(prop: Property | None, *, as_device: bool, of: str, name: str) -> Refusal | None:
    """Why a write into property `name` of `of` (`prop`, None while it does not exist) is
    refused, or None.

    The device creates its properties by writing them; anyone else writes (commands) only an
    existing `public` one."""
    if as_device:
        return None
    if prop is None:
        return 404, "UnknownProperty", f"{of} has no property {name}"
    if prop.access != Property.Access.PUBLIC:
        return 403, "NotPublic", f"{prop.name} is {prop.access}: only its device writes it"
    return None


# --- plugs: looking at and changing them -----------------------------------------------------------


def may_manage_plug(principal: Principal, plug: Plug) -> bool:
    """The account (master password, user key), an account-wide API client key with
    `device:modify`, or the plug itself may change a plug's name, props and `perm.ctrl`."""
    if not in_own_account(principal, plug.account_id):
        return False
    if principal.is_account or principal.acts_as(plug.id):
        return True
    return (
        principal.is_apiclient
        and principal.context_type == ContextType.ACCOUNT
        and principal.has_scope(modify_scope(plug.kind))
    )


def may_administer_plug(principal: Principal, plug: Plug) -> bool:
    """Status and `perm.of` (the plug's own reach) are the account's to change, never the plug's."""
    return may_manage_plug(principal, plug) and not principal.is_plug


def may_see_plug(principal: Principal, plug: Plug) -> bool:
    """The channel dialect's `GET device/{id}`: whoever may change it or read its data."""
    return may_manage_plug(principal, plug) or may_reach_data(principal, plug, Mode.READ)


def may_unenroll(principal: Principal, plug: Plug) -> bool:
    """The account may remove any of its plugs, a plug only itself (a gateway key its devices),
    an account-wide API client key with `device:modify` any."""
    if not in_own_account(principal, plug.account_id):
        return False
    if principal.is_plug:
        return principal.acts_as(plug.id)
    return principal.is_account or may_manage_plug(principal, plug)


def may_enroll_prototype(principal: Principal) -> bool:
    return principal.is_account


def may_enroll_controller(principal: Principal) -> bool:
    """Controllers are enrolled without credentials, with the account's or a controller's own;
    an API client key cannot."""
    return not principal.is_apiclient


def foreign_plug_ids(account_id: str, plug_ids: Iterable[str]) -> list[str]:
    """The ids among `plug_ids` that name no plug of the account: a plug's `perm.of` may only
    widen its reach within its own account."""
    wanted = set(plug_ids)
    if not wanted:
        return []
    own = Plug.objects.filter(account_id=account_id, id__in=wanted).values_list("id", flat=True)
    return sorted(wanted - set(own))


# --- the v3 management API ---------------------------------------------------------------------


def management_reach(principal: Principal, plug_kind: str = "thing") -> Reach:
    """The plugs `principal` may look at through the v3 management API (`plug_kind`
    controller: as apps, with the app scopes).

    The account sees every plug; a device key its own plug (or a gateway key's plugs); an API
    client key, with a read scope, the plugs of its context.
    """
    if principal.is_account:
        return EVERYWHERE
    if principal.is_plug:
        return Reach(False, frozenset(principal.plug_ids or (principal.plug_id or "",)))
    scopes = APP_READ_SCOPES if plug_kind == Plug.Kind.CONTROLLER else MANAGEMENT_READ_SCOPES
    if not any(principal.has_scope(s) for s in scopes):
        return NOWHERE
    return _context_reach(principal)


def may_create_device(principal: Principal, kind: str = "thing") -> bool:
    """The account, or an account-wide API client key with `device:modify` (`app:modify` for
    an app, a controller plug), may create plugs."""
    return principal.is_account or (
        principal.is_apiclient
        and principal.context_type == ContextType.ACCOUNT
        and principal.has_scope(modify_scope(kind))
    )


def may_modify_device(principal: Principal, plug: Plug) -> bool:
    """Who may change a plug through the v3 management API: as `may_manage_plug`, but never a
    device key (in v3 a device reads its own description; the account writes it)."""
    return not principal.is_plug and may_manage_plug(principal, plug)


# The scopes of each profile kind (`DeviceProfile.Kind`): read, modify.
PROFILE_SCOPES = {
    "device": (Scope.PROFILE_READ, Scope.PROFILE_MODIFY),
    "app": (Scope.APPPROFILE_READ, Scope.APPPROFILE_MODIFY),
}


def may_read_profiles(principal: Principal, kind: str = "device") -> bool:
    """Device profiles (`kind` device) or app profiles (`kind` app) and their properties
    (`/v3/deviceprofiles`, `/v3/appprofiles`, `/v3/properties?owner=_dpf_…`): the account, or an
    API client key with `deviceprofile:read` or `deviceprofile:modify` (`appprofile:…` for app
    profiles; profiles are account-wide, whatever the key's context); never a device key."""
    read, modify = PROFILE_SCOPES[kind]
    return principal.is_account or (
        principal.is_apiclient and (principal.has_scope(read) or principal.has_scope(modify))
    )


def may_modify_profiles(principal: Principal, kind: str = "device") -> bool:
    """Creating, changing and deleting profiles of `kind` and declaring their properties: the
    account, or an account-wide API client key with `deviceprofile:modify` (`appprofile:modify`)."""
    return principal.is_account or (
        principal.is_apiclient
        and principal.context_type == ContextType.ACCOUNT
        and principal.has_scope(PROFILE_SCOPES[kind][1])
    )


def may_read_device_key(principal: Principal, plug: Plug) -> bool:
    """A device reads its own key (clients fetch their secret this way); no one else but the account."""
    if not in_own_account(principal, plug.account_id):
        return False
    return principal.is_account or principal.plug_id == plug.id


def may_use_console(principal: Principal) -> bool:
    """The operator console is the account's: its email and master password sign in."""
    return principal.is_account


class StaffUser(Protocol):
    """What the console knows of a Django user (`django.contrib.auth`'s `User`)."""

    is_active: bool
    is_staff: bool


def may_open_any_account(user: StaffUser | None) -> bool:
    """A Django staff user signs in to the console with their own password and opens any
    account (as that account: full rights); no one else, and never an inactive user."""
    return user is not None and bool(user.is_active) and bool(user.is_staff)


def may_read_account(principal: Principal) -> bool:
    """The account object (`GET /v3/accounts/{acc}`): the account, or an API client key with
    `account:read`."""
    return principal.is_account or (principal.is_apiclient and principal.has_scope(Scope.ACCOUNT_READ))


def may_change_account(principal: Principal) -> bool:
    """The account's settings (its default retention) are the account's alone."""
    return principal.is_account


def may_manage_keys(principal: Principal) -> bool:
    """API clients, key regeneration and the account's settings are the account's alone."""
    return principal.is_account


@dataclass(frozen=True)
class ProvisioningContext:
    """Where a provisioning key finds devices by custom id (SPEC §7), and where it makes them.

    `kind` is the key's context type; `target` the profile, template or app it names (None for
    an account context); `subaccounts`: whether the account's sub-accounts are searched too."""

    kind: str
    target: str | None = None
    subaccounts: bool = False

    @property
    def creates(self) -> bool:
        """Only a profile or template context makes a device it does not find."""
        return self.kind in (ContextType.PROFILE, ContextType.TEMPLATE)


def provisioning_context(principal: Principal) -> ProvisioningContext | None:
    """Where `principal` provisions (SPEC §7 "Zero-touch provisioning"), or None when it is no
    provisioning key.

    Connio's documented key — an API client key with `device:read` — finds, in an `app` context,
    the devices plugged into that app; in an `account` context the account's devices and, with
    `subaccount:read`, its sub-accounts' too. A key with scope `device:provision` in a
    `deviceprofile` or `template` context finds or creates devices there; in an account
    context it finds the account's devices."""
    if not principal.is_apiclient:
        return None
    kind = principal.context_type
    if principal.has_scope(Scope.PROVISION):
        if kind in (ContextType.PROFILE, ContextType.TEMPLATE) and principal.context_ids:
            return ProvisioningContext(kind, principal.context_ids[0])
        if kind == ContextType.ACCOUNT:
            return ProvisioningContext(kind, subaccounts=principal.has_scope(Scope.SUBACCOUNT_READ))
    if principal.has_scope(Scope.READ):
        if kind == ContextType.APP and principal.plug_id:
            return ProvisioningContext(kind, principal.plug_id)
        if kind == ContextType.ACCOUNT:
            return ProvisioningContext(kind, subaccounts=principal.has_scope(Scope.SUBACCOUNT_READ))
    return None


def mqtt_may_provision(principal: Principal, reply_topic_client_id: str, own_client_id: str) -> bool:
    """A provisioning key subscribes to the answers for its own client id only."""
    return provisioning_context(principal) is not None and reply_topic_client_id == own_client_id


# --- users and sub-accounts (SPEC §6 "Fleets") --------------------------------------------------

# What a user key of each role may do. An `admin` user key is the account itself (as is a user
# key without a user); the other roles make API client principals with these scopes and an
# account context (`devices.identity`), so every scope check above applies to them unchanged.
ROLE_SCOPES: dict[str, tuple[Scope, ...]] = {
    "developer": (
        Scope.READ,
        Scope.MODIFY,
        Scope.READ_DATA,
        Scope.WRITE_DATA,
        Scope.EXECUTE,
        Scope.PROFILE_READ,
        Scope.PROFILE_MODIFY,
        Scope.APP_READ,
        Scope.APP_MODIFY,
        Scope.APP_READ_DATA,
        Scope.APPPROFILE_READ,
        Scope.APPPROFILE_MODIFY,
    ),
    "viewer": (
        Scope.READ,
        Scope.READ_DATA,
        Scope.PROFILE_READ,
        Scope.APP_READ,
        Scope.APP_READ_DATA,
        Scope.APPPROFILE_READ,
    ),
}


def role_is_account(role: str) -> bool:
    """Whether a user key of `role` acts as the account itself."""
    return role not in ROLE_SCOPES


def may_manage_users(principal: Principal) -> bool:
    """Users and their keys (`/v3/users`) are the account's alone (master password, a user key
    without a user or of an admin)."""
    return principal.is_account


def may_manage_subaccounts(principal: Principal) -> bool:
    """Creating, changing, deleting sub-accounts and acting in them: the account alone."""
    return principal.is_account


def may_read_subaccounts(principal: Principal) -> bool:
    """Listing the sub-accounts and reading their account objects: the account, or an
    account-wide API client key with `subaccount:read`."""
    return may_manage_subaccounts(principal) or (
        principal.is_apiclient
        and principal.context_type == ContextType.ACCOUNT
        and principal.has_scope(Scope.SUBACCOUNT_READ)
    )


def in_subaccount(principal: Principal, subaccount_id: str) -> Principal | None:
    """`principal` acting in `subaccount_id`, one of its account's descendants (the caller has
    checked that), or None if it may not.

    The account acts there as that account, with every right it has at home. An API client
    key with `subaccount:read` only reads the sub-account object (`account:read` there and no
    other scope: the sub-account's devices and data stay out of its reach)."""
    home = principal.home_account_id or principal.account_id
    if may_manage_subaccounts(principal):
        return replace(principal, account_id=subaccount_id, home_account_id=home)
    if may_read_subaccounts(principal):
        return replace(
            principal,
            account_id=subaccount_id,
            home_account_id=home,
            plug_id=None,
            context_ids=(),
            scope=(Scope.ACCOUNT_READ.value,),
        )
    return None


def may_delete_account(principal: Principal) -> bool:
    """An account is deleted (and suspended or reactivated: `status`) by its parent acting in
    it, never by itself (a suspended account could not sign in to undo it)."""
    return principal.is_account and principal.home_account_id not in (None, principal.account_id)


# --- alerts and incidents (SPEC §12) -------------------------------------------------------------


def may_read_alerts(principal: Principal) -> bool:
    """Alerts and incidents: the account, or an API client key that may look at devices
    (`device:read`, `device:read-data`, `device:modify`); incidents only of the devices its
    context reaches (`alert_owner_access`, `management_reach`)."""
    return principal.is_account or (
        principal.is_apiclient and any(principal.has_scope(s) for s in MANAGEMENT_READ_SCOPES)
    )


def may_manage_alerts(principal: Principal) -> bool:
    """Creating, changing and deleting alerts, acknowledging and clearing incidents: the
    account, or an account-wide API client key with `device:modify`."""
    return principal.is_account or (
        principal.is_apiclient
        and principal.context_type == ContextType.ACCOUNT
        and principal.has_scope(Scope.MODIFY)
    )


def alert_owner_access(principal: Principal, owner_id: str, *, change: bool) -> Plug | DeviceProfile:
    """The plug or profile `owner_id` names, if `principal` may read (or, `change`, manage)
    its alerts: fetch and authorize in one call. Another account's owner, or none, is a 404;
    an owner the caller may not touch is a 403."""
    owner: Plug | DeviceProfile | None
    if not isinstance(owner_id, str) or len(owner_id) > 64:
        raise ApiError(404, "no such owner")
    if owner_id.startswith(("_dpf_", "_apf_")):
        owner = DeviceProfile.objects.filter(account_id=principal.account_id, id=owner_id).first()
    else:
        owner = Plug.objects.filter(account_id=principal.account_id, id=owner_id).first()
    if owner is None:
        raise ApiError(404, f"no device, app or profile {owner_id}")
    allowed = may_manage_alerts(principal) if change else may_read_alerts(principal)
    if allowed and isinstance(owner, Plug) and not principal.is_account:
        allowed = management_reach(principal, owner.kind).allows(owner.id)
    if allowed and isinstance(owner, DeviceProfile) and not principal.is_account:
        allowed = principal.context_type == ContextType.ACCOUNT
    if not allowed:
        raise ApiError(
            403, f"these credentials may not {'change' if change else 'read'} the alerts of {owner_id}"
        )
    return owner


def incident_devices_reach(principal: Principal) -> Reach:
    """The devices whose incidents `principal` may list (and, with `may_manage_alerts`, ack
    and clear)."""
    if not may_read_alerts(principal):
        return NOWHERE
    return management_reach(principal)
