"""`/v3/properties/{prp}` (SPEC §6 "Fleets"; the Connio SDKs' property context): a property by id,
whether a device or a device profile owns it, under `/v3/` and `/v3/accounts/{acc}/`.

A device's property follows `/v3/devices/{ref}/properties/{prp}`'s rules and rights; a profile's,
the device profile rights (`devices.access.may_read_profiles` / `may_modify_profiles`), and a
change reaches every device that inherits it (`devices.services.profiles`). PUT and PATCH both
change only what the body names: the SDKs send the fields they change. DELETE removes a
profile's declaration (its devices keep their copies, with their data, as their own) or a
device's own property (its points stay; an inherited row is the profile's: 409). Another
account's property is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.models import ProfileProperty, Property
from devices.property_api import ManagementView
from devices.selectors import MAX_REF
from devices.services.management import property_update
from devices.services.profiles import profile_property_delete, profile_property_update, property_delete
from devices.shapes.properties import PropertyAnswer, PropertyChange
from plugboard.errors import ApiError
from plugboard.principals import Principal


def _property_by_id(principal: Principal, ref: str) -> Property | ProfileProperty:
    """A property of the caller's account by id, a device's or a profile's; else a 404."""
    if len(ref) <= MAX_REF and ref.startswith("_prp_"):
        own = Property.objects.filter(id=ref, plug__account_id=principal.account_id).select_related("plug")
        if found := own.first():
            return found
        declared = ProfileProperty.objects.filter(id=ref, profile__account_id=principal.account_id)
        if found_declared := declared.select_related("profile").first():
            return found_declared
    raise ApiError(404, f"no property {ref[:MAX_REF]}")


@extend_schema_view(**docs.property_by_id)
class PropertyByIdView(ManagementView):
    def get(self, request: Request, prp: str, **_: Any) -> Response:
        prop = _property_by_id(self.principal, prp)
        if isinstance(prop, ProfileProperty):
            if not access.may_read_profiles(self.principal, prop.profile.kind):
                raise ApiError(403, f"these credentials may not read {prop.profile.kind} profiles")
            return Response(PropertyAnswer.of_profile(prop, profile=prop.profile))
        return Response(PropertyAnswer.of_plug(prop, plug=self.device(prop.plug.id)))

    def put(self, request: Request, prp: str, **_: Any) -> Response:
        prop = _property_by_id(self.principal, prp)
        if isinstance(prop, ProfileProperty):
            changes = PropertyChange.changes(request, current_name=prop.name, merge=True)
            declared = profile_property_update(principal=self.principal, declared=prop, **changes)
            return Response(PropertyAnswer.of_profile(declared, profile=declared.profile))
        plug = self.device_to_change(prop.plug.id)
        changes = PropertyChange.changes(request, current_name=prop.name, merge=True)
        return Response(
            PropertyAnswer.of_plug(property_update(principal=self.principal, prop=prop, **changes), plug=plug)
        )

    def patch(self, request: Request, prp: str, **_: Any) -> Response:
        return self.put(request, prp)

    def delete(self, request: Request, prp: str, **_: Any) -> Response:
        prop = _property_by_id(self.principal, prp)
        if isinstance(prop, ProfileProperty):
            return Response({"nrOfItems": profile_property_delete(principal=self.principal, declared=prop)})
        self.device(prop.plug.id)  # 403 before anything for a device the caller may not see
        return Response({"nrOfItems": property_delete(principal=self.principal, prop=prop)})
