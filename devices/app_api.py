"""Apps through the property dialect (SPEC §6 "Fleets"): `/v3/apps` and `/v3/apps/{ref}`, under
`/v3/` and `/v3/accounts/{acc}/`. An app is a controller plug, made from an app profile
(`/v3/appprofiles`, `devices.profile_api`); its data is `/v3/data/apps/{ref}/…` (`data`), its
properties `/v3/properties?owner={app}`. A device names the apps that control it in its `apps`.

Who may (`devices.access`): the account everything; an API client key looks at apps with
`app:read`, `app:read-data` or `app:modify` within its context, and creates, changes and deletes
them with `app:modify` and an account context. A thing's id or name here is a 404 (it is a
device, not an app), as is another account's app.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.models import Plug
from devices.property_api import ManagementView
from devices.selectors import plug_resolve, plugs_visible, things_controlled_by
from devices.services.management import device_create, device_update
from devices.services.plugs import plugs_unenroll
from devices.shapes.devices import AppAnswer, DeviceChange, DeviceIn
from plugboard.errors import ApiError
from plugboard.property_dialect import page

APP = Plug.Kind.CONTROLLER


def app_json(plug: Plug) -> dict[str, Any]:
    """An app: a device's shape (the fields the SDKs read) plus the things it controls."""
    return AppAnswer.show(plug, apps=[], devices=things_controlled_by(plug=plug))


class AppManagementView(ManagementView):
    def app(self, ref: str, *, to_change: bool = False) -> Plug:
        """The caller's app `ref`: 404 across accounts and for a thing, 403 without the right."""
        plug = plug_resolve(principal=self.principal, ref=ref)
        if plug.kind != APP:
            raise ApiError(404, f"no app {ref}: {plug.id} is a device")
        allowed = (
            access.may_modify_device(self.principal, plug)
            if to_change
            else access.management_reach(self.principal, APP).allows(plug.id)
        )
        if not allowed:
            raise ApiError(403, f"these credentials may not {'change' if to_change else 'see'} app {ref}")
        return plug


@extend_schema_view(**docs.app_list)
class AppListView(AppManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        return Response(page(request, plugs_visible(principal=self.principal, kind=APP), app_json))

    def post(self, request: Request, **_: Any) -> Response:
        if not access.may_create_device(self.principal, APP):
            raise ApiError(403, "these credentials may not create apps")
        fields = DeviceIn.fields_of(request)
        plug = device_create(account=self.principal.account_id, fields=fields, kind=APP).plug
        return Response(app_json(plug), status=201)


@extend_schema_view(**docs.app)
class AppView(AppManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        return Response(app_json(self.app(ref)))

    def put(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.app(ref, to_change=True)
        return Response(app_json(device_update(plug=plug, fields=DeviceChange.fields_of(request))))

    def delete(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.app(ref, to_change=True)
        return Response({"nrOfItems": plugs_unenroll(principal=self.principal, plug_ids=[plug.id])})
