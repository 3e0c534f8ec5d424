"""The property dialect's keys (SPEC §3, §6): a device's key, and the account's API clients."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.presenters import apiclient_json, key_json
from devices.property_api import ManagementView
from devices.selectors import apiclients_of, plug_device_key, plug_resolve
from devices.services.fields import tags_field, text_field
from devices.services.plugs import device_key_regenerate
from devices.v3_bodies import APICLIENT_FIELDS, apiclient_context, body_object, refuse_unknown
from devices.v3_shapes import ApiClientChange
from plugboard.errors import ApiError
from plugboard.parsers import MAX_INT
from plugboard.property_dialect import page
from plugboard.services import (
    APICLIENT_DEFAULT_SCOPE,
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
        return Response(key_json(key, secret=key_secret(key=key)))

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        self.account_only("regenerate a device key")
        key, secret = device_key_regenerate(plug=plug)
        return Response(key_json(key, secret=secret))


@extend_schema_view(**docs.apiclient_list)
class ApiClientListView(ManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        self.account_only("list API clients")
        rows = apiclients_of(principal=self.principal)
        return Response(
            page(request, rows.order_by("-date_created", "id"), lambda k: apiclient_json(k, secret=None))
        )

    def post(self, request: Request, **_: Any) -> Response:
        self.account_only("create API clients")
        body = body_object(request)
        refuse_unknown(body, APICLIENT_FIELDS)
        name = body.get("name") or body.get("friendlyName") or ""
        if not isinstance(name, str) or len(name) > 120:
            raise ApiError(400, "name must be a string of at most 120 characters")
        friendly_name = text_field(body.get("friendlyName"), "friendlyName", 120)
        description = text_field(body.get("description"), "description")
        tags = tags_field(body.get("tags"))
        # Without `scope`, the stated default (shown in the answer's `scope`); `[]` is refused.
        scope = body.get("scope", list(APICLIENT_DEFAULT_SCOPE))
        if isinstance(scope, str):
            scope = [scope]
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise ApiError(400, 'scope must be a list such as ["device:read-data"]')
        rate_limit = body.get("rateLimit", 0)
        if not isinstance(rate_limit, int) or isinstance(rate_limit, bool) or not 0 <= rate_limit <= MAX_INT:
            raise ApiError(400, "rateLimit must be a whole number of requests per minute (0 = unlimited)")
        if "context" not in body:
            raise ApiError(400, "context is required: {type: account|app|devices, ids: [...]}")
        context_type, ids, app = apiclient_context(self.principal, body["context"])
        key, secret = apiclient_create(
            account=self.principal.account_id,
            scope=scope,
            context_type=context_type,
            context_ids=ids,
            app=app,
            name=name,
            rate_limit=rate_limit,
            friendly_name=friendly_name,
            description=description,
            tags=tags,
        )
        # The secret is shown this once; it is stored only as a keyed digest.
        return Response(apiclient_json(key, secret=secret), status=201)


@extend_schema_view(**docs.apiclient)
class ApiClientView(ManagementView):
    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(apiclient_json(self.apiclient(key_id), secret=None))

    def put(self, request: Request, key_id: str, **_: Any) -> Response:
        key = self.apiclient(key_id)
        body = ApiClientChange.read(request, principal=self.principal)
        return Response(apiclient_json(apiclient_update(key=key, **body), secret=None))

    def delete(self, request: Request, key_id: str, **_: Any) -> Response:
        key_revoke(key=self.apiclient(key_id))
        return Response({"nrOfItems": 1})


@extend_schema_view(**docs.apiclient_key)
class ApiClientKeyView(ManagementView):
    """`/apiclients/{id}/apikey`: GET shows the key (secret withheld), POST regenerates it."""

    def post(self, request: Request, key_id: str, **_: Any) -> Response:
        key = self.apiclient(key_id)
        secret = key_regenerate(key=key)
        return Response(key_json(key, secret=secret))

    def get(self, request: Request, key_id: str, **_: Any) -> Response:
        return Response(key_json(self.apiclient(key_id), secret=None))
