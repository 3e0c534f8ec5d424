"""The data connectors' wire shapes, declared once: the input serializer validates request bodies
(a wrong type is a 400 by construction) and, with the output serializers, is the OpenAPI schema
of `/v3/apps/{ref}/dataconnectors…` (SPEC §13)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers

from devices.schema_docs import PAGE_PARAMETERS, page_of
from plugboard.schema import example, json_body, path_param, property_errors, query

TYPES = ["http", "mqtt", "amqp"]


class MethodField(serializers.ChoiceField):
    """An HTTP method named in upper case, accepted in any case: the schema lists each method
    once (a client generated from it cannot take `POST` and `post` as two names)."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class CredentialsSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=200, allow_blank=True)
    password = serializers.CharField(max_length=500, allow_blank=True, required=False, write_only=True)

    class Meta:
        ref_name = "DataConnectorCredentials"


class ConnectorInSerializer(serializers.Serializer):
    """A data connector's settings, as created (`type` and the type's target required) or changed
    (the fields named)."""

    type = serializers.ChoiceField(TYPES, required=False, help_text="required on create; never changes")
    disabled = serializers.BooleanField(required=False, help_text="true: the connector stops forwarding")
    url = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="http: `http(s)://host:port/path`; mqtt: `mqtt(s)://user:pass@host:port`; "
        "amqp: `amqp(s)://user:pass@host:port/vhost`. Its password is stored encrypted, never returned",
    )
    server = serializers.CharField(required=False, max_length=255, help_text="http, Connio's form: the host")
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    ssl = serializers.BooleanField(required=False, help_text="http, Connio's form: https")
    path = serializers.CharField(required=False, max_length=1000, allow_blank=True)
    method = MethodField(["POST", "PUT"], required=False, help_text="http; in any case")
    headers = serializers.DictField(
        child=serializers.CharField(max_length=1000), required=False, help_text="http: up to 10 headers"
    )
    credentials = CredentialsSerializer(required=False, help_text="http: basic authentication")
    signatureKey = serializers.CharField(  # noqa: N815 - the wire's name
        required=False,
        max_length=500,
        allow_blank=True,
        write_only=True,
        help_text="http: signs each body, `X-Plugboard-Signature: sha256=<hex HMAC>`; never returned",
    )
    topic = serializers.CharField(
        required=False, max_length=500, help_text="mqtt: template with ${account}, ${device}, ${property}"
    )
    exchange = serializers.CharField(required=False, max_length=255, allow_blank=True, help_text="amqp")
    routingKey = serializers.CharField(  # noqa: N815
        required=False, max_length=500, help_text="amqp: template with ${account}, ${device}, ${property}"
    )
    properties = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=100,
        help_text="forward only these properties (channels); with `channels`, either matches",
    )
    channels = serializers.ListField(
        child=serializers.CharField(max_length=500),
        required=False,
        max_length=100,
        help_text="forward only channels matching these masks (`+`, `#`)",
    )

    class Meta:
        ref_name = "DataConnectorIn"


class ConnectorStatusSerializer(serializers.Serializer):
    delivered = serializers.IntegerField(help_text="points delivered")
    pending = serializers.IntegerField(help_text="points waiting (for their turn or a retry)")
    failed = serializers.IntegerField(help_text="failed delivery attempts (of batches)")
    dead = serializers.IntegerField(help_text="points kept as dead letters (replayable)")
    lagSeconds = serializers.FloatField(help_text="age of the oldest pending point")  # noqa: N815
    lastError = serializers.CharField(allow_blank=True)  # noqa: N815
    lastErrorAt = serializers.IntegerField(allow_null=True, help_text="epoch ms")  # noqa: N815
    lastDeliveredAt = serializers.IntegerField(allow_null=True, help_text="epoch ms")  # noqa: N815

    class Meta:
        ref_name = "DataConnectorStatus"


class ConnectorSerializer(serializers.Serializer):
    id = serializers.CharField()
    accountId = serializers.CharField()  # noqa: N815
    appId = serializers.CharField()  # noqa: N815
    type = serializers.ChoiceField(TYPES)
    disabled = serializers.BooleanField()
    url = serializers.CharField(help_text="without its password")
    method = serializers.CharField(required=False)
    headers = serializers.DictField(child=serializers.CharField(), required=False)
    credentials = CredentialsSerializer(required=False)
    signed = serializers.BooleanField(required=False, help_text="http: a signature key is set")
    topic = serializers.CharField(required=False)
    qos = serializers.IntegerField(required=False)
    exchange = serializers.CharField(required=False, allow_blank=True)
    routingKey = serializers.CharField(required=False)  # noqa: N815
    properties = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.CharField())
    status = ConnectorStatusSerializer()
    dateCreated = serializers.CharField()  # noqa: N815
    dateModified = serializers.CharField()  # noqa: N815

    class Meta:
        ref_name = "DataConnector"


class DeadLetterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.CharField()
    points = serializers.ListField(
        child=serializers.DictField(),
        help_text="the points of one write of the device, as they were to be sent",
    )
    deliveryId = serializers.CharField()  # noqa: N815
    attempts = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    createdAt = serializers.IntegerField(help_text="epoch ms")  # noqa: N815

    class Meta:
        ref_name = "DataConnectorDeadLetter"


class ReplayInSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=10_000, help_text="omitted: every one"
    )

    class Meta:
        ref_name = "DataConnectorReplayIn"


APP_REF = path_param("ref", "an app id or name")
CONNECTOR_ID = path_param("connector_id", "a data connector id (`_dcn_…`)")
_HTTP_EXAMPLE = {
    "type": "http",
    "url": "https://receiver.example.com/plugboard",
    "signatureKey": "a-long-shared-secret",
    "properties": ["temperature"],
}
_MQTT_EXAMPLE = {
    "type": "mqtt",
    "url": "mqtts://bridge:secret@broker.example.com:8883",
    "topic": "${account}/${device}/${property}",
}
_AMQP_EXAMPLE = {
    "type": "amqp",
    "url": "amqp://guest:guest@rabbit.example.com:5672/%2F",
    "exchange": "telemetry",
    "routingKey": "${device}.${property}",
}
TESTED = inline_serializer("DataConnectorTested", {"success": serializers.BooleanField()})
REPLAYED = inline_serializer("DataConnectorReplayed", {"nrOfItems": serializers.IntegerField()})
REMOVED = inline_serializer("DataConnectorRemoved", {"nrOfItems": serializers.IntegerField()})
NO_BODY = json_body({"type": "object", "description": "ignored (nothing to send)"})

connector_list = {
    "get": extend_schema(
        summary="An app's data connectors, with their delivery status",
        parameters=[APP_REF, *PAGE_PARAMETERS],
        responses={200: page_of(ConnectorSerializer, "DataConnectorPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create a data connector (at most 10 per app); a target on a non-public address is a 400",
        parameters=[APP_REF],
        request=json_body(ConnectorInSerializer),
        responses={201: ConnectorSerializer, **property_errors()},
        examples=[
            example("http", _HTTP_EXAMPLE),
            example("mqtt", _MQTT_EXAMPLE),
            example("amqp", _AMQP_EXAMPLE),
        ],
    ),
}
connector = {
    "get": extend_schema(
        summary="A data connector and its delivery status",
        parameters=[APP_REF, CONNECTOR_ID],
        responses={200: ConnectorSerializer, **property_errors()},
    ),
    "put": extend_schema(
        summary="Change a data connector (the fields the body names; credentials kept unless given)",
        parameters=[APP_REF, CONNECTOR_ID],
        request=json_body(ConnectorInSerializer),
        responses={200: ConnectorSerializer, **property_errors()},
        examples=[example("disable", {"disabled": True})],
    ),
    "delete": extend_schema(
        summary="Delete a data connector and what it still had to deliver",
        parameters=[APP_REF, CONNECTOR_ID],
        responses={200: REMOVED, **property_errors()},
    ),
}
connector_test = {
    "post": extend_schema(
        summary="Send one test point through the connector now; 502 with the reason when not taken",
        parameters=[APP_REF, CONNECTOR_ID],
        request=NO_BODY,
        responses={200: TESTED, **property_errors(502)},
        examples=[example("no body", {})],
    ),
}
dead_letters = {
    "get": extend_schema(
        summary="A data connector's dead letters: writes' points that failed for longer than the retention",
        parameters=[
            APP_REF,
            CONNECTOR_ID,
            query("after", int, "only those after this id (the last one of the previous page)"),
            query("limit", int, "at most this many, 1..1000 (default 100)"),
        ],
        responses={200: DeadLetterSerializer(many=True), **property_errors()},
    ),
}
replay = {
    "post": extend_schema(
        summary="Replay dead letters (all, or those named), in their devices' order, ahead of newer points",
        parameters=[APP_REF, CONNECTOR_ID],
        request=json_body(ReplayInSerializer),
        responses={200: REPLAYED, **property_errors()},
        examples=[example("all", {}), example("some", {"ids": [1042, 1043]})],
    ),
}
