"""OpenAPI description of the property dialect's view of commands (documentation only),
applied with `extend_schema_view` in `commands.property_api`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from commands.models import Command
from devices.schema_docs import DEVICE_REF, PAGE_PARAMETERS, page_of
from plugboard.schema import AnyJson, property_errors


class CommandSerializer(serializers.Serializer):
    id = serializers.CharField()
    deviceId = serializers.CharField()
    property = serializers.CharField()
    value = AnyJson()
    state = serializers.ChoiceField(Command.State.values)
    t = serializers.CharField(help_text="ISO 8601: when the command was written")
    dateCreated = serializers.CharField(allow_null=True)
    sentAt = serializers.CharField(allow_null=True)
    ackedAt = serializers.CharField(allow_null=True)
    expiresAt = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "Command"


device_commands = {
    "get": extend_schema(
        summary="The device's commands (writes to its properties by others), newest first",
        parameters=[DEVICE_REF, *PAGE_PARAMETERS],
        responses={200: page_of(CommandSerializer, "CommandPage"), **property_errors()},
    ),
}
