"""Device and app profiles through the property dialect (SPEC §6 "Fleets"):
`/v3/deviceprofiles`, `/v3/deviceprofiles/{ref}`, `/v3/appprofiles`, `/v3/appprofiles/{ref}`
(`{ref}`: a profile id or name, case-insensitive), under `/v3/` and `/v3/accounts/{acc}/`. The
properties a profile declares are `/v3/properties?owner={profile}`
(`devices.property_api.OwnerPropertiesView`). The two kinds are one model and one set of
views; each path sees its own kind only.

Who may (`devices.access`): the account (master password, user key) everything; an API client
key reads with `deviceprofile:read` or `deviceprofile:modify` (`appprofile:…` for app
profiles), and creates, changes and deletes with `…:modify` and an account context; a device
key nothing. Another account's profile is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.models import DeviceProfile
from devices.profile_presenters import profile_json
from devices.selectors import profiles_of
from devices.services.management import KEEP
from devices.services.profiles import (
    ProfileFields,
    profile_create,
    profile_delete,
    profile_lookup,
    profile_update,
)
from devices.v3_bodies import body_object, refuse_unknown
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView, page

# v3 word → ProfileFields field.
PROFILE_FIELDS = {
    "name": "name",
    "friendlyName": "friendly_name",
    "description": "description",
    "tags": "tags",
    "deviceClass": "device_class",
    "productName": "product_name",
    "vendorName": "vendor_name",
    "version": "version",
    "imageUrl": "image_url",
    "baseProfile": "base_profile",
}
# Sent back unchanged from a GET: ignored (`baseProfileId` is read as `baseProfile` when that is
# absent). `system` and `locked` are Connio's flags for profiles of its own; none here is either.
PROFILE_READ_ONLY = frozenset({"locked", "baseProfileId", "system"})


def profile_fields(body: dict[str, Any], *, creating: bool) -> ProfileFields:
    refuse_unknown(body, frozenset(PROFILE_FIELDS) | PROFILE_READ_ONLY)
    if creating and not body.get("name"):
        raise ApiError(400, "name is required")
    given = {field: body[word] for word, field in PROFILE_FIELDS.items() if word in body}
    if "base_profile" not in given and "baseProfileId" in body:
        given["base_profile"] = body["baseProfileId"]
    return ProfileFields(**{field: given.get(field, KEEP) for field in PROFILE_FIELDS.values()})


class ProfileView(PropertyDialectView):
    kind: str = DeviceProfile.Kind.DEVICE

    def readable(self) -> None:
        if not access.may_read_profiles(self.principal, self.kind):
            raise ApiError(403, f"these credentials may not read {self.kind} profiles")

    def profile(self, ref: str) -> DeviceProfile:
        """The caller's profile `ref`: a 404 across accounts, then a 403 without the right."""
        found = profile_lookup(account_id=self.principal.account_id, ref=ref, kind=self.kind)
        self.readable()
        return found


@extend_schema_view(**docs.profile_list)
class ProfileListView(ProfileView):
    def get(self, request: Request, **_: Any) -> Response:
        self.readable()
        return Response(page(request, profiles_of(principal=self.principal, kind=self.kind), profile_json))

    def post(self, request: Request, **_: Any) -> Response:
        fields = profile_fields(body_object(request), creating=True)
        created = profile_create(principal=self.principal, fields=fields, kind=self.kind)
        return Response(profile_json(created), status=201)


@extend_schema_view(**docs.profile_detail)
class ProfileDetailView(ProfileView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        return Response(profile_json(self.profile(ref)))

    def put(self, request: Request, ref: str, **_: Any) -> Response:
        found = self.profile(ref)
        fields = profile_fields(body_object(request), creating=False)
        changed = profile_update(principal=self.principal, profile=found, fields=fields)
        return Response(profile_json(changed))

    def delete(self, request: Request, ref: str, **_: Any) -> Response:
        removed = profile_delete(principal=self.principal, profile=self.profile(ref))
        return Response({"nrOfItems": removed})


@extend_schema_view(**docs.appprofile_list)
class AppProfileListView(ProfileListView):
    kind = DeviceProfile.Kind.APP


@extend_schema_view(**docs.appprofile_detail)
class AppProfileDetailView(ProfileDetailView):
    kind = DeviceProfile.Kind.APP
