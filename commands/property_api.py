"""The property dialect's view of commands (SPEC §6): `GET /v3/devices/{ref}/commands`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from commands import schema_docs as docs
from commands.models import Command
from commands.selectors import commands_of
from devices.property_api import ManagementView
from plugboard.property_dialect import iso_date, page
from plugboard.timestamps import iso


def command_json(command: Command) -> dict[str, Any]:
    return {
        "id": command.id,
        "deviceId": command.plug_id,
        "property": command.property,
        "value": command.value,
        "state": command.state,
        "t": iso(command.at),
        "dateCreated": iso_date(command.created_at),
        "sentAt": iso_date(command.sent_at),
        "ackedAt": iso_date(command.acked_at),
        "expiresAt": iso(command.expire_at),
    }


@extend_schema_view(**docs.device_commands)
class DeviceCommandsView(ManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = self.device(ref)
        rows = commands_of(plug=plug)
        return Response(page(request, rows, command_json))
