"""The OpenAPI description of the alerts app's operations (drf-spectacular): the shapes are
the serializers of `alerts.definitions`, which also validate the bodies."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers

from alerts.definitions import AlertInSerializer, AlertSerializer, IncidentSerializer
from plugboard.property_dialect import MAX_PAGE_SIZE
from plugboard.schema import example, json_body, path_param, property_errors, query

PAGE_PARAMETERS = [
    query("pageSize", int, f"items a page, 1..{MAX_PAGE_SIZE} (default 25)"),
    query("pageNo", int, "the page, from 1"),
]


def _page(item: type[serializers.Serializer], name: str) -> serializers.Serializer:  # type: ignore[type-arg]
    return inline_serializer(
        name,
        {
            "total": serializers.IntegerField(),
            "itemCount": serializers.IntegerField(),
            "numOfPages": serializers.IntegerField(),
            "pageNo": serializers.IntegerField(),
            "skip": serializers.IntegerField(),
            "results": item(many=True),
        },
    )


ALERT_ID = path_param("alert_id", "an alert id (`_alr_…`)")
INCIDENT_ID = path_param("incident_id", "an incident id (`_inc_…`)")
OWNER = query("owner", str, "only the alerts of this device, app or profile (`ownerId` too)")
REMOVED = inline_serializer("AlertsRemoved", {"nrOfItems": serializers.IntegerField()})
_ALERT_EXAMPLE = {
    "name": "too-hot",
    "ownerId": "_dpf_0123456789abcdef01234567",
    "trigger": "temperature",
    "metric": "avg(5m)",
    "conditions": [
        {
            "severity": "warning",
            "expression": {"operation": "gt", "value": 30},
            "handlers": [{"key": "1", "notification": "ops"}],
        },
        {
            "severity": "critical",
            "expression": {"operation": "gt", "value": 40},
            "handlers": [{"key": "2", "notification": "ops"}],
        },
    ],
    "recover": [{"key": "3", "notification": "ops"}],
    "notifications": [
        {
            "name": "ops",
            "action": "webhook",
            "url": "https://ops.example.com/hook",
            "signatureKey": "s3cret",
            "message": "${device}: ${property} is ${value} (${severity})",
        }
    ],
}

alert_list = {
    "get": extend_schema(
        summary="The alerts of the account, or of one owner (`?owner=`)",
        parameters=[OWNER, query("ownerId", str, "as owner"), *PAGE_PARAMETERS],
        responses={200: _page(AlertSerializer, "AlertPage"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Create an alert on a device, app, device profile or app profile",
        parameters=[OWNER],
        request=json_body(AlertInSerializer),
        responses={201: AlertSerializer, **property_errors()},
        examples=[example("alert", _ALERT_EXAMPLE)],
    ),
}
alert_detail = {
    "get": extend_schema(
        summary="An alert", parameters=[ALERT_ID], responses={200: AlertSerializer, **property_errors()}
    ),
    "put": extend_schema(
        summary="Change an alert (the fields the body names)",
        parameters=[ALERT_ID],
        request=json_body(AlertInSerializer(partial=True)),
        responses={200: AlertSerializer, **property_errors()},
        examples=[example("disable", {"status": "disabled"})],
    ),
    "delete": extend_schema(
        summary="Remove an alert and its incidents",
        parameters=[ALERT_ID],
        responses={200: REMOVED, **property_errors()},
    ),
}
incident_list = {
    "get": extend_schema(
        summary="Incidents, newest first",
        parameters=[
            query("device", str, "only this device's (id)"),
            query("alert", str, "only this alert's (id)"),
            query("status", str, "active, ack, cleared, or open (active and ack)"),
            *PAGE_PARAMETERS,
        ],
        responses={200: _page(IncidentSerializer, "IncidentPage"), **property_errors()},
    )
}
incident_detail = {
    "get": extend_schema(
        summary="An incident",
        parameters=[INCIDENT_ID],
        responses={200: IncidentSerializer, **property_errors()},
    ),
    "delete": extend_schema(
        summary="Clear an incident (its alert's recover handlers do not run: a user cleared it)",
        parameters=[INCIDENT_ID],
        responses={200: IncidentSerializer, **property_errors()},
    ),
}
incident_ack = {
    "post": extend_schema(
        summary="Acknowledge an incident (it stays open until it clears)",
        parameters=[INCIDENT_ID],
        request=json_body({"type": "object", "description": "ignored (nothing to send)"}),
        responses={200: IncidentSerializer, **property_errors()},
        examples=[example("ack", {})],
    )
}
device_activity = {
    "get": extend_schema(
        summary="A device's activity: period, active, lastIn, lastOut",
        parameters=[path_param("ref", "a device id or name, or `_this_`")],
        responses={
            200: inline_serializer(
                "DeviceActivity",
                {
                    "period": serializers.IntegerField(help_text="seconds; 0: not watched"),
                    "active": serializers.ChoiceField(("active", "inactive", "unknown")),
                    "lastIn": serializers.JSONField(help_text="{property, t} of its last write, or null"),
                    "lastOut": serializers.JSONField(
                        help_text="{property, t} of the last command to it, or null"
                    ),
                },
            ),
            **property_errors(),
        },
    )
}
