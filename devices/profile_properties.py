"""The properties a device (or app) profile declares, through `/v3/properties?owner={profile}` (SPEC §6
"Fleets"): the owner look-up and the two operations `devices.property_api.OwnerPropertiesView`
hands over when the owner is a profile. A property body is read as a device's
(`devices.shapes.properties.PropertyIn`); the declaration reaches the profile's devices
through `devices.services.profiles`."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices.models import DeviceProfile
from devices.selectors import MAX_REF, plugs_of_account, profile_properties_of
from devices.services.fields import PlugError
from devices.services.profiles import profile_lookup, profile_property_define
from devices.shapes.properties import PropertyAnswer, PropertyIn
from plugboard.errors import ApiError
from plugboard.identifiers import is_plug_id, is_profile_id
from plugboard.principals import Principal
from plugboard.property_dialect import page


def profile_owner(principal: Principal, owner: str) -> DeviceProfile | None:
    """The profile `owner` names, or None when it names a device (or nothing: the device path
    answers that 404). A name is a device's first, then a profile's."""
    if is_profile_id(owner):
        return profile_lookup(account_id=principal.account_id, ref=owner, kind=None)
    if is_plug_id(owner) or owner == "_this_" or len(owner) > MAX_REF:
        return None
    if plugs_of_account(principal=principal).filter(name__iexact=owner).exists():
        return None
    try:
        return profile_lookup(account_id=principal.account_id, ref=owner, kind=None)
    except PlugError:
        return None


def profile_properties_list(request: Request, principal: Principal, profile: DeviceProfile) -> Response:
    if not access.may_read_profiles(principal, profile.kind):
        raise ApiError(403, f"these credentials may not read {profile.kind} profiles")
    rows = profile_properties_of(profile=profile)
    return Response(page(request, rows, lambda prop: PropertyAnswer.of_profile(prop, profile=profile)))


def profile_property_create(request: Request, principal: Principal, profile: DeviceProfile) -> Response:
    declared = profile_property_define(principal=principal, profile=profile, **PropertyIn.definition(request))
    return Response(PropertyAnswer.of_profile(declared, profile=profile), status=201)
