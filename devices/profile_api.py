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
from devices.selectors import profiles_of
from devices.services.profiles import (
    profile_create,
    profile_delete,
    profile_lookup,
    profile_update,
)
from devices.shapes.profiles import ProfileAnswer, ProfileChange, ProfileIn
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView, page


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
        return Response(
            page(request, profiles_of(principal=self.principal, kind=self.kind), ProfileAnswer.show)
        )

    def post(self, request: Request, **_: Any) -> Response:
        fields = ProfileIn.fields_of(request)
        created = profile_create(principal=self.principal, fields=fields, kind=self.kind)
        return Response(ProfileAnswer.show(created), status=201)


@extend_schema_view(**docs.profile_detail)
class ProfileDetailView(ProfileView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        return Response(ProfileAnswer.show(self.profile(ref)))

    def put(self, request: Request, ref: str, **_: Any) -> Response:
        found = self.profile(ref)
        fields = ProfileChange.fields_of(request)
        changed = profile_update(principal=self.principal, profile=found, fields=fields)
        return Response(ProfileAnswer.show(changed))

    def delete(self, request: Request, ref: str, **_: Any) -> Response:
        removed = profile_delete(principal=self.principal, profile=self.profile(ref))
        return Response({"nrOfItems": removed})


@extend_schema_view(**docs.appprofile_list)
class AppProfileListView(ProfileListView):
    kind = DeviceProfile.Kind.APP


@extend_schema_view(**docs.appprofile_detail)
class AppProfileDetailView(ProfileDetailView):
    kind = DeviceProfile.Kind.APP
