"""Fetch-and-authorize, in the manner of Zulip's `access_*_by_id`: a service or a view hands
over what it was given and gets back what the principal may act on, or the refusal the
dialects answer with: another account's thing is a 404 (it is missing for the caller), a
thing of its own account without the right is a 403. Part of the one authorization module
(`devices.access`)."""

from __future__ import annotations

from devices.access.rules import in_own_account, may_modify_device, may_modify_profiles
from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from devices.services.fields import PlugError
from plugboard.principals import Principal


def _word(kind: str) -> str:
    return f"{kind} profile"


def access_profile_to_change(
    principal: Principal, profile: DeviceProfile, missing: str = ""
) -> DeviceProfile:
    """`profile` if `principal` may change profiles of its kind (403) in its account (404)."""
    if not may_modify_profiles(principal, profile.kind):
        raise PlugError(f"these credentials may not change {_word(profile.kind)}s", status=403)
    if not in_own_account(principal, profile.account_id):
        raise PlugError(missing or f"no {_word(profile.kind)} {profile.id}", status=404)
    return profile


def access_profile_property_to_change(principal: Principal, declared: ProfileProperty) -> DeviceProfile:
    """The profile declaring `declared`, if `principal` may change it (403, then 404)."""
    return access_profile_to_change(principal, declared.profile, missing=f"no property {declared.id}")


def access_property_to_change(principal: Principal, prop: Property) -> Plug:
    """The device of `prop`, if `principal` may change its properties (404 across accounts,
    then 403)."""
    plug = prop.plug
    if not in_own_account(principal, plug.account_id):
        raise PlugError(f"no property {prop.id}", status=404)
    if not may_modify_device(principal, plug):
        raise PlugError(f"these credentials may not change the properties of {plug.name}", status=403)
    return plug
