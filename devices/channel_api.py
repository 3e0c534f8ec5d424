"""Enrollment and plug management of the channel dialect (`/iot/device…`, SPEC §5).

Thin views: they check the body's shape, call `devices.services`, and render the CloudPlugs
wire format. Errors come out as `{"err", "msg"}` through the shared exception handler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from drf_spectacular.utils import extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.models import Plug
from devices.selectors import plug_resolve, things_controlled_by
from devices.services.enrollment import (
    control_release,
    controller_enroll,
    plug_enroll_production,
    plug_enroll_prototype,
)
from devices.services.fields import PlugError
from devices.services.plugs import (
    plug_prop_remove,
    plug_props_clear,
    plug_props_update,
    plug_update,
    plugs_unenroll,
)
from plugboard.errors import ApiError
from plugboard.principals import Principal
from plugboard.ratelimits import check_failure_budget, client_address, record_failure
from plugboard.views import PlatformView

T = TypeVar("T")

# --- translation of the wire format ---------------------------------------------------------------


def _object(data: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return data


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    if required and not value:
        raise ApiError(400, f"{key} is required")
    return value


def _id_list(value: Any, what: str) -> list[str]:
    """Plug ids as the official client sends them: one id, a CSV string, or an array of ids."""
    if isinstance(value, str):
        ids = [i.strip() for i in value.split(",")]
    elif isinstance(value, list) and all(isinstance(i, str) for i in value):
        ids = [i.strip() for i in value]
    else:
        raise ApiError(400, f"{what} must be a plug id, a CSV of plug ids or an array of plug ids")
    ids = [i for i in ids if i]
    if not ids:
        raise ApiError(400, f"{what} names no plug")
    return ids


def _has_body(request: Request) -> bool:
    # A JSON `null` body and no body at all both parse to nothing; only one of them means "delete".
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > 0 or "HTTP_TRANSFER_ENCODING" in request.META


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _controlled_ids(plug: Plug) -> list[str]:
    if plug.kind != Plug.Kind.CONTROLLER:
        return []
    return things_controlled_by(plug=plug)


def device_body(plug: Plug) -> dict[str, Any]:
    """A plug as `GET device/{id}` shows it (CloudPlugs' Device, plus the platform's state)."""
    return {
        "id": plug.id,
        "name": plug.name,
        "hwid": plug.hwid,
        "kind": plug.kind,
        "origin": plug.origin,
        "status": plug.status,
        "perm": plug.perm,
        "props": plug.props,
        "model": plug.template_id,
        "ctrl": _controlled_ids(plug),
        "connected": plug.connected,
        "last_seen": _ms(plug.last_seen),
        "transport": plug.transport if plug.connected and plug.transport else None,
        "date_created": _ms(plug.date_created),
    }


# --- views -------------------------------------------------------------------------------------------


class ChannelView(PlatformView):
    """Base of the `/iot/device…` views."""

    def readable_plug(self, ref: str) -> Plug:
        """The plug `ref` of the caller's account, if the caller may see it (404 across accounts)."""
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not access.may_see_plug(self.principal, plug):
            raise ApiError(403, "these credentials may not read this plug")
        return plug


@extend_schema_view(**docs.channel_enrollment)
class DeviceEnrollmentView(ChannelView):
    """`POST device` (thing), `PUT device` (controller), `DELETE device` (unenroll)."""

    # Production enrollment has no credentials yet: the hwid's password is the proof.
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        body = _object(request.data)
        if "model" in body:
            # A production thing: credentials, if the client sends some, play no part.
            model = _string(body, "model", required=True)
            hwid = _string(body, "hwid", required=True)
            password = _string(body, "pass", required=True)
            assert model is not None and hwid is not None and password is not None
            props = body.get("props")
            enrolled = self._counting_failures(
                request,
                lambda: plug_enroll_production(template_id=model, hwid=hwid, password=password, props=props),
            )
            return Response({"id": enrolled.plug.id, "auth": enrolled.auth})
        principal = self.principal
        if not access.may_enroll_prototype(principal):
            raise ApiError(403, "only the account enrolls prototypes")
        enrolled = plug_enroll_prototype(
            account=principal.account_id,
            name=_string(body, "name", required=True) or "",
            hwid=_string(body, "hwid"),
            control_password=_string(body, "pass"),
            perm=body.get("perm"),
            props=body.get("props"),
        )
        return Response({"id": enrolled.plug.id, "auth": enrolled.auth})

    def put(self, request: Request) -> Response:
        body = _object(request.data)
        model = _string(body, "model", required=True)
        ctrl = _string(body, "ctrl", required=True)
        password = _string(body, "pass", required=True)
        hwid = _string(body, "hwid") or ""
        name = _string(body, "name")
        assert model is not None and ctrl is not None and password is not None
        controller = None
        user = request.user
        if isinstance(user, Principal):
            if not access.may_enroll_controller(user):
                raise ApiError(403, "an API client key cannot enroll controllers")
            if user.is_plug:  # the controller's own credentials: control one more thing
                controller = plug_resolve(principal=user, ref="_this_")
            # Account credentials enroll a new controller, exactly as no credentials do.
        result = self._counting_failures(
            request,
            lambda: controller_enroll(
                model=model, ctrl=ctrl, password=password, hwid=hwid, name=name, controller=controller
            ),
        )
        return Response(
            {"id": result.controller.id, "auth": result.auth}, status=201 if result.created else 200
        )

    def delete(self, request: Request) -> Response:
        principal = self.principal
        return Response(plugs_unenroll(principal=principal, plug_ids=_id_list(request.data, "body")))

    @staticmethod
    def _counting_failures(request: Request, enroll: Callable[[], T]) -> T:
        # A wrong enroll/control password counts toward the same budget as a wrong credential.
        client = client_address(request)
        check_failure_budget(client)
        try:
            return enroll()
        except PlugError as exc:
            if exc.status_code == 401:
                record_failure(client)
            raise


@extend_schema_view(**docs.channel_device)
class DeviceView(ChannelView):
    """`GET/PATCH device/{id}`; `DELETE device/{id}` releases control of things."""

    def get(self, request: Request, ref: str) -> Response:
        return Response(device_body(self.readable_plug(ref)))

    def patch(self, request: Request, ref: str) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        body = _object(request.data)
        changes = {key: body[key] for key in ("name", "perm", "status", "props") if key in body}
        updated = plug_update(principal=self.principal, plug=plug, **changes)
        return Response(device_body(updated))

    def delete(self, request: Request, ref: str) -> Response:
        controller = plug_resolve(principal=self.principal, ref=ref)
        if not access.may_manage_plug(self.principal, controller):
            raise ApiError(403, "only the controller or its account may release its control")
        body = _object(request.data)
        if "controlled" not in body:
            raise ApiError(400, "controlled (the things to release) is required")
        things = _id_list(body["controlled"], "controlled")
        return Response(control_release(controller=controller, thing_ids=things))


@extend_schema_view(**docs.channel_props)
class DevicePropsView(ChannelView):
    """`device/{id}/`: the whole props object (GET; PATCH merges, a null value removes a key;
    DELETE removes every key)."""

    def get(self, request: Request, ref: str) -> Response:
        return Response(self.readable_plug(ref).props)

    def patch(self, request: Request, ref: str) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        changes = _object(request.data, "props")
        return Response(plug_props_update(principal=self.principal, plug=plug, changes=changes))

    def delete(self, request: Request, ref: str) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        return Response(plug_props_clear(principal=self.principal, plug=plug))


@extend_schema_view(**docs.channel_prop)
class DevicePropView(ChannelView):
    """`device/{id}/{prop}`: one key of props. PATCH sets it to the body (`null` deletes)."""

    def get(self, request: Request, ref: str, key: str) -> Response:
        props = self.readable_plug(ref).props or {}
        if key not in props:
            raise ApiError(404, f"plug {ref} has no prop {key}")
        return Response(props[key])

    def patch(self, request: Request, ref: str, key: str) -> Response:
        if not _has_body(request):
            raise ApiError(400, "body must be a JSON value (null removes the prop)")
        plug = plug_resolve(principal=self.principal, ref=ref)
        return Response(plug_props_update(principal=self.principal, plug=plug, changes={key: request.data}))

    def delete(self, request: Request, ref: str, key: str) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        return Response(plug_prop_remove(principal=self.principal, plug=plug, key=key))
