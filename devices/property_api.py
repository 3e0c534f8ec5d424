"""The property dialect's management API (SPEC §6 "Management"): devices, their properties and
logs, under `/v3/` and `/v3/accounts/{acc}/` (keys: `plugboard.accounts.key_api`; commands:
`commands.property_api`; devices are read and answered by `devices.shapes.devices`, properties
by `devices.shapes.properties`).

The views translate v3 words (Connio's) to plug words and back, check who may do what, and
call the services; `devices.presenters` holds the response shapes.

Who may do what:
- the account (master password, user key): everything in the account;
- a device key: read its own device, properties, key, log and commands (`_this_` or its id);
- an API client key: read the devices of its context with `device:read`, `device:read-data`
  or `device:modify`; create and change devices with `device:modify` and an account context;
- keys and API clients are managed by the account only.
Another account's device is a 404; a device of the account the caller may not touch, a 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.models import Plug
from devices.presenters import log_entry_json
from devices.profile_properties import profile_owner, profile_properties_list, profile_property_create
from devices.selectors import (
    apiclients_of,
    device_log_of,
    plug_resolve,
    plugs_visible,
    properties_of,
    property_resolve,
)
from devices.services.management import device_create, device_update, property_define, property_update
from devices.services.plugs import plugs_unenroll
from devices.shapes.devices import DeviceAnswer, DeviceChange, DeviceIn
from devices.shapes.properties import PropertyAnswer, PropertyChange, PropertyIn
from plugboard.errors import ApiError
from plugboard.models import ApiKey
from plugboard.property_dialect import PropertyDialectView, page


def _apps_of(plug: Plug) -> list[str]:
    # `controlled_by` is prefetched on pages; a single device costs one query.
    return [control.controller_id for control in plug.controlled_by.all()]


class ManagementView(PropertyDialectView):
    """Device and API client look-ups with the rights each needs."""

    def device(self, ref: str) -> Plug:
        """The device `ref` if the caller may look at it: 404 across accounts, 403 within."""
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not access.management_reach(self.principal).allows(plug.id):
            raise ApiError(403, f"these credentials may not see device {ref}")
        return plug

    def device_to_change(self, ref: str) -> Plug:
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not access.may_modify_device(self.principal, plug):
            raise ApiError(403, f"these credentials may not change device {ref}")
        return plug

    def account_only(self, what: str) -> None:
        if not access.may_manage_keys(self.principal):
            raise ApiError(403, f"only the account (master password or user key) may {what}")

    def apiclient(self, key_id: str) -> ApiKey:
        self.account_only("manage API clients")
        key = apiclients_of(principal=self.principal).filter(id=key_id).first()
        if key is None:
            raise ApiError(404, f"no API client {key_id}")
        return key


@extend_schema_view(**docs.device_list)
class DeviceListView(ManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        rows = plugs_visible(principal=self.principal)
        return Response(page(request, rows, lambda p: DeviceAnswer.show(p, apps=_apps_of(p))))

    def post(self, request: Request, **_: Any) -> Response:
        if not access.may_create_device(self.principal):
            raise ApiError(403, "these credentials may not create devices")
        fields = DeviceIn.fields_of(request)
        plug = device_create(account=self.principal.account_id, fields=fields).plug
        return Response(DeviceAnswer.show(plug, apps=_apps_of(plug)), status=201)


@extend_schema_view(**docs.device)
class DeviceView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        return Response(DeviceAnswer.show(plug, apps=_apps_of(plug)))

    def put(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device_to_change(ref)
        plug = device_update(plug=plug, fields=DeviceChange.fields_of(request))
        return Response(DeviceAnswer.show(plug, apps=_apps_of(plug)))

    def delete(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device_to_change(ref)
        # The channel dialect's removal, so one rule decides what goes with a plug.
        removed = plugs_unenroll(principal=self.principal, plug_ids=[plug.id])
        # Connio answers a delete with the number of entities removed (its JS SDK reads it).
        return Response({"nrOfItems": removed})


class PropertiesView(ManagementView):
    def properties_list(self, request: Request, ref: str) -> Response:
        plug = self.device(ref)
        rows = properties_of(plug=plug)
        return Response(page(request, rows, lambda prop: PropertyAnswer.of_plug(prop, plug=plug)))

    def property_create(self, request: Request, ref: str) -> Response:
        plug = self.device_to_change(ref)
        prop = property_define(plug=plug, **PropertyIn.definition(request))
        return Response(PropertyAnswer.of_plug(prop, plug=plug), status=201)


@extend_schema_view(**docs.device_properties)
class DevicePropertiesView(PropertiesView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        return self.properties_list(request, ref)

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        return self.property_create(request, ref)


@extend_schema_view(**docs.device_property)
class DevicePropertyView(ManagementView):
    """`/v3/devices/{ref}/properties/{prp}` (id or name): GET reads a property; PUT replaces its
    settings (what the body leaves out goes back to the default); PATCH changes what it names."""

    def get(self, request: Request, ref: str, prp: str, **_: Any) -> Response:
        plug = self.device(ref)
        return Response(PropertyAnswer.of_plug(property_resolve(plug=plug, ref=prp), plug=plug))

    def _change(self, request: Request, ref: str, prp: str, *, merge: bool) -> Response:
        plug = self.device_to_change(ref)
        prop = property_resolve(plug=plug, ref=prp)
        changes = PropertyChange.changes(request, current_name=prop.name, merge=merge)
        prop = property_update(principal=self.principal, prop=prop, **changes)
        return Response(PropertyAnswer.of_plug(prop, plug=plug))

    def put(self, request: Request, ref: str, prp: str, **_: Any) -> Response:
        return self._change(request, ref, prp, merge=False)

    def patch(self, request: Request, ref: str, prp: str, **_: Any) -> Response:
        return self._change(request, ref, prp, merge=True)


@extend_schema_view(**docs.owner_properties)
class OwnerPropertiesView(PropertiesView):
    """`/v3/properties?owner={ref}`: the Connio SDKs create and list properties this way. The
    owner is a device or a device profile (`devices.profile_properties`), by id or name."""

    def _owner(self, request: Request) -> str:
        body = request.data if isinstance(request.data, dict) else {}
        owner = (
            request.query_params.get("owner") or request.query_params.get("ownerId") or body.get("ownerId")
        )
        if not isinstance(owner, str) or not owner:
            raise ApiError(400, "owner (query) or ownerId (body) names the device or device profile")
        return owner

    def get(self, request: Request, **_: Any) -> Response:
        owner = self._owner(request)
        if profile := profile_owner(self.principal, owner):
            return profile_properties_list(request, self.principal, profile)
        return self.properties_list(request, owner)

    def post(self, request: Request, **_: Any) -> Response:
        owner = self._owner(request)
        if profile := profile_owner(self.principal, owner):
            return profile_property_create(request, self.principal, profile)
        return self.property_create(request, owner)


@extend_schema_view(**docs.device_log)
class DeviceLogView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        rows = device_log_of(plug=plug)
        return Response(page(request, rows, log_entry_json))
