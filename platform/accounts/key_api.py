"""The property dialect's keys (SPEC §3, §6): a device's key, and the account's API clients."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.property_api import ManagementView
from devices.selectors import apiclients_of, plug_device_key, plug_resolve
from devices.services.plugs import device_key_regenerate
from devices.shapes.keys import ApiClientAnswer, ApiClientChange, ApiClientIn, ApiKeyAnswer
from plugboard.errors import ApiError
from plugboard.property_dialect import page
from plugboard.services import (
    apiclient_create,
    apiclient_update,
    key_regenerate,
    key_revoke,
    key_secret,
)


@extend_schema_view(**docs.device_key)
class DeviceKeyView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        # A device reads its own key (clients fetch their secret this way); no one else but the account.
        if not access.may_read_device_key(self.principal, plug):
            raise ApiError(403, "only the account or the device itself may read a device key")
        key = plug_device_key(plug=plug)
        if key is None:
            raise ApiError(404, f"device {ref} has no key; POST to this URL makes one")
        return Response(ApiKeyAnswer.show(key, secret=key_secret(key=key)))

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        self.account_only("regenerate a device key")
        key, secret = device_key_regenerate(plug=plug)
        return Response(ApiKeyAnswer.show(key, secret=secret))


@extend_schema_view(**docs.apiclient_list)
class ApiClientListView(ManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        self.account_only("list API clients")
        rows = apiclients_of(principal=self.principal)
        rows = rows.order_by("-date_created", "id")
        return Response(page(request, rows, lambda k: ApiClientAnswer.show(k, secret=None)))

    def post(self, request: Request, **_: Any) -> Response:
        self.account_only("create API clients")
        key, secret = apiclient_create(
            account=self.principal.account_id, **ApiClientIn.read(request, principal=self.principal)
        )
        # The secret is shown this once; it is stored only as a keyed digest.
        return Response(ApiClientAnswer.show(key, secret=secret), status=201)


@extend_schema_view(**docs.apiclient)
class ApiClientView(ManagementView):
    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(ApiClientAnswer.show(self.apiclient(key_id), secret=None))

    def put(self, request: Request, key_id: str, **_: Any) -> Response:
        key = self.apiclient(key_id)
        body = ApiClientChange.read(request, principal=self.principal)
        return Response(ApiClientAnswer.show(apiclient_update(key=key, **body), secret=None))

    def delete(self, request: Request, key_id: str, **_: Any) -> Response:
        key_revoke(key=self.apiclient(key_id))
        return Response({"nrOfItems": 1})


@extend_schema_view(**docs.apiclient_key)
class ApiClientKeyView(ManagementView):
    """`/apiclients/{id}/apikey`: GET shows the key (secret withheld), POST regenerates it."""

    def post(self, request: Request, key_id: str, **_: Any) -> Response:
        key = self.apiclient(key_id)
        secret = key_regenerate(key=key)
        return Response(ApiKeyAnswer.show(key, secret=secret))

    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(ApiKeyAnswer.show(self.apiclient(key_id), secret=None))
