"""Who may do what over MQTT (SPEC §7, §13): a client id, a PUBLISH topic, a SUBSCRIBE filter,
a device's mirror. Part of the one authorization module (`devices.access`)."""

from __future__ import annotations

from devices.access.rules import Reach, in_own_account
from plugboard.models import ApiKey
from plugboard.principals import Principal, Scope

ContextType = ApiKey.ContextType


# --- MQTT (SPEC §7) ----------------------------------------------------------------------------


def mqtt_may_take_client_id(principal: Principal, client_id_owner: str | None) -> bool:
    """Sessions belong to an account: a key that acts for an account connects with any client
    id but another account's plug id (`client_id_owner`: the account of the plug the client id
    names, None when it names none). A plug connects as itself: `devices.identity` matches its
    client id to the plugs its credentials are."""
    return client_id_owner is None or in_own_account(principal, client_id_owner)


def mqtt_may_publish_to_device(principal: Principal, plug_id: str, plug_account: str | None) -> bool:
    """Whether a client may PUBLISH to a device topic of `plug_id` (`plug_account`: the account
    that plug belongs to, None if there is no such plug).

    A plug publishes for itself (a gateway key for its devices); the account's keys publish into
    its devices' properties (commands), whose per-point rules the write service applies. A topic
    of another account's plug, or of no plug, is not the client's: the connection is closed."""
    if principal.is_plug:
        return principal.acts_as(plug_id)
    return in_own_account(principal, plug_account)


def mqtt_may_subscribe_commands(principal: Principal, plug_id: str) -> bool:
    """A device's command topic is the device's own (a gateway key's devices' too)."""
    return principal.acts_as(plug_id)


def mqtt_may_read_records(principal: Principal, of: str, plug_account: str | None, read_reach: Reach) -> bool:
    """Whether a client may subscribe to, or be sent, the live records published as `of` — a plug
    (`plug_account`: its account, None if none) or the account's own id."""
    if of == principal.account_id:
        return principal.is_account or read_reach.everything
    if principal.acts_as(of):  # its own records (the endpoint needs no look-up for them)
        return True
    return in_own_account(principal, plug_account) and read_reach.allows(of)


# --- MQTT device mirroring (SPEC §13) ------------------------------------------------------------


def mqtt_may_mirror(principal: Principal) -> bool:
    """Mirror topics are read by user keys (the account, or a user's role key with
    `device:read-data`) and API client keys with `device:read-data` in an account or app
    context; never by a device key."""
    if principal.is_account:
        return True
    return (
        principal.is_apiclient
        and principal.has_scope(Scope.READ_DATA)
        and principal.context_type in (ContextType.ACCOUNT, ContextType.APP)
    )


def mqtt_may_mirror_device(
    principal: Principal, plug_id: str, plug_account: str | None, read_reach: Reach
) -> bool:
    """Whether a mirror of `plug_id` (`plug_account`: its account, None if no such plug) is the
    client's: one of its account's plugs whose data it may read (an app key: the devices plugged
    into its app)."""
    return (
        mqtt_may_mirror(principal) and in_own_account(principal, plug_account) and read_reach.allows(plug_id)
    )


def mqtt_may_mirror_app(principal: Principal, app_id: str, app_account: str | None) -> bool:
    """Whether the client reads mirrors through the app `app_id`: an app key through its own app
    only; the account's other mirroring keys through any app of the account."""
    if not mqtt_may_mirror(principal) or not in_own_account(principal, app_account):
        return False
    if principal.is_apiclient and principal.context_type == ContextType.APP:
        return app_id == principal.plug_id
    return True
