"""The alert's wire shape (SPEC §12), declared once: these serializers validate a request body
(a bad definition is a DRF ValidationError, answered as a 400 in the v3 error shape) and are the
OpenAPI schema drf-spectacular publishes for the same operations.

What needs the database (the owner, the trigger property) is checked by `alerts.services`.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from devices.services.fields import NAME_RE
from plugboard.parsers import MAX_INT, is_json_number
from plugboard.schema import AnyJson

SEVERITIES = ("info", "warning", "critical")
OPERATIONS = ("gt", "gte", "lt", "lte", "eq", "neq", "between", "outside", "changed", "always")
NUMERIC_OPERATIONS = frozenset({"gt", "gte", "lt", "lte"})
RANGE_OPERATIONS = frozenset({"between", "outside"})
ACTIONS = ("webhook", "email", "mqtt", "command", "log")
AGGREGATES = ("avg", "min", "max", "sum", "count")
# `value`, or an aggregate over the property's points of the last period: `avg(5m)`.
METRIC_RE = re.compile(r"^(?:value|(?P<fn>avg|min|max|sum|count)\((?P<n>[1-9][0-9]{0,6})(?P<unit>[smhd])\))$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_SECONDS = 31 * 86400
MAX_CONDITIONS = 10
MAX_NOTIFICATIONS = 10
# Built-in properties of every device (Connio's Device profile): usable as triggers without
# a property row of that name.
BUILT_IN_TRIGGERS = frozenset({"active"})


def metric_window(metric: str) -> tuple[str, int] | None:
    """(aggregate, seconds) of an aggregate metric, None for `value`."""
    match = METRIC_RE.match(metric)
    if match is None or match["fn"] is None:
        return None
    return match["fn"], int(match["n"]) * UNIT_SECONDS[match["unit"]]


class ExpressionSerializer(serializers.Serializer[Any]):
    operation = serializers.ChoiceField(OPERATIONS)
    value = AnyJson(
        required=False,
        allow_null=True,
        help_text="a number (gt, gte, lt, lte), any JSON value (eq, neq), [low, high] (between, "
        "outside); none for changed and always",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        operation, value = attrs["operation"], attrs.get("value")
        if operation in NUMERIC_OPERATIONS and not is_json_number(value):
            raise serializers.ValidationError(f"{operation} compares with a number")
        if operation in RANGE_OPERATIONS and not (
            isinstance(value, list)
            and len(value) == 2
            and all(is_json_number(v) for v in value)
            and value[0] <= value[1]
        ):
            raise serializers.ValidationError(f"{operation} takes [low, high], two numbers, low <= high")
        if operation in ("eq", "neq") and "value" not in attrs:
            raise serializers.ValidationError(f"{operation} needs a value")
        return attrs


class HandlerSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    notification = serializers.CharField(
        max_length=64, help_text="the name of one of the alert's notifications"
    )


class ConditionSerializer(serializers.Serializer[Any]):
    severity = serializers.ChoiceField(SEVERITIES)
    expression = ExpressionSerializer()
    handlers = HandlerSerializer(many=True, required=False, default=list)


def _optional(**kw: Any) -> dict[str, Any]:
    return {"required": False, "allow_null": True, **kw}


class NotificationSerializer(serializers.Serializer[Any]):
    """One way to tell someone; which fields it needs depends on its `action`."""

    name = serializers.CharField(max_length=64)
    action = serializers.ChoiceField(ACTIONS)
    message = serializers.CharField(
        **_optional(allow_blank=True, max_length=4000),
        help_text="a template: ${value}, ${device}, ${property}, ${severity}, ${alert}",
    )
    level = serializers.CharField(**_optional(allow_blank=True, max_length=20))
    url = serializers.CharField(
        **_optional(max_length=500),
        help_text="webhook: http(s) URL; mqtt: an external broker mqtt(s)://user:pass@host:port",
    )
    method = serializers.CharField(
        **_optional(max_length=200),
        help_text="webhook: POST (default) or PUT; command: the public property written",
    )
    signatureKey = serializers.CharField(**_optional(max_length=200), help_text="webhook: the HMAC key")
    to = serializers.EmailField(**_optional(), help_text="email: one address")
    subject = serializers.CharField(**_optional(allow_blank=True, max_length=200))
    topic = serializers.CharField(**_optional(max_length=200), help_text="mqtt: the external broker's topic")
    parameter = AnyJson(**_optional(), help_text="command: the value written")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = attrs["action"]
        if action == "webhook":
            url = attrs.get("url")
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                raise serializers.ValidationError("a webhook needs an http(s) url")
            if (attrs.get("method") or "POST").upper() not in ("POST", "PUT"):
                raise serializers.ValidationError("a webhook's method is POST or PUT")
        elif action == "email" and not attrs.get("to"):
            raise serializers.ValidationError("an email needs to (one address)")
        elif action == "mqtt" and attrs.get("url"):
            if not re.match(r"^mqtts?://[^/\s]+", attrs["url"]) or not attrs.get("topic"):
                raise serializers.ValidationError(
                    "an external broker is url mqtt(s)://host[:port] and a topic"
                )
        elif action == "command":
            if not attrs.get("method"):
                raise serializers.ValidationError("a command names the property it writes (method)")
            if "parameter" not in attrs:
                raise serializers.ValidationError("a command needs the value it writes (parameter)")
        return {k: v for k, v in attrs.items() if v is not None}


class AlertInSerializer(serializers.Serializer[Any]):
    """An alert as a client creates or replaces it."""

    name = serializers.RegexField(NAME_RE, max_length=64, help_text="letter first; letters, digits, . - _")
    ownerId = serializers.CharField(
        max_length=64, help_text="a device, device profile, app or app profile id"
    )
    friendlyName = serializers.CharField(**_optional(allow_blank=True, max_length=120))
    description = serializers.CharField(**_optional(allow_blank=True, max_length=2000))
    tags = serializers.ListField(child=serializers.CharField(max_length=64), **_optional(max_length=50))
    status = serializers.ChoiceField(("enabled", "disabled"), required=False, default="enabled")
    trigger = serializers.CharField(
        max_length=200, help_text="the property evaluated on each write: its id or name (or `active`)"
    )
    metric = serializers.RegexField(
        METRIC_RE, required=False, default="value", help_text="value, or avg|min|max|sum|count(<n>s|m|h|d)"
    )
    ttl = serializers.IntegerField(
        **_optional(min_value=0, max_value=MAX_INT), help_text="seconds: older points are ignored"
    )
    conditions = ConditionSerializer(many=True)
    recover = HandlerSerializer(many=True, required=False, default=list)
    notifications = NotificationSerializer(many=True, required=False, default=list)
    locked = serializers.BooleanField(required=False, default=False)

    def validate_metric(self, metric: str) -> str:
        window = metric_window(metric)
        if window is not None and window[1] > MAX_WINDOW_SECONDS:
            raise serializers.ValidationError("an aggregate's period is at most 31 days")
        return metric

    def validate_conditions(self, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not conditions or len(conditions) > MAX_CONDITIONS:
            raise serializers.ValidationError(f"an alert has 1 to {MAX_CONDITIONS} conditions")
        return conditions

    def validate_notifications(self, notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [n["name"] for n in notifications]
        if len(names) > MAX_NOTIFICATIONS:
            raise serializers.ValidationError(f"at most {MAX_NOTIFICATIONS} notifications")
        if len(set(names)) != len(names):
            raise serializers.ValidationError("notification names must be unique")
        return notifications

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        known = {n["name"] for n in attrs.get("notifications", [])}
        handlers = [h for c in attrs["conditions"] for h in c.get("handlers", [])]
        handlers += attrs.get("recover", [])
        unknown = sorted({h["notification"] for h in handlers} - known)
        if unknown:
            raise serializers.ValidationError(f"unknown notification(s): {', '.join(unknown)}")
        return attrs


class AlertSerializer(serializers.Serializer[Any]):
    """An alert as the API answers it (documentation of `alerts.presenters.alert_json`)."""

    id = serializers.CharField(help_text="`_alr_` + 24 hex digits")
    accountId = serializers.CharField()
    ownerId = serializers.CharField()
    name = serializers.CharField()
    friendlyName = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(("enabled", "disabled"))
    triggerId = serializers.CharField(help_text="the trigger property's id (`active` for the built-in one)")
    trigger = serializers.CharField(help_text="the trigger property's name")
    metric = serializers.CharField()
    ttl = serializers.IntegerField(allow_null=True)
    conditions = ConditionSerializer(many=True)
    recover = HandlerSerializer(many=True)
    notifications = NotificationSerializer(many=True)
    locked = serializers.BooleanField()
    dateCreated = serializers.DateTimeField()
    dateModified = serializers.DateTimeField()


class IncidentSerializer(serializers.Serializer[Any]):
    """An incident as the API answers it (`alerts.presenters.incident_json`)."""

    id = serializers.CharField(help_text="`_inc_` + 24 hex digits")
    alertId = serializers.CharField()
    deviceId = serializers.CharField()
    severity = serializers.ChoiceField(("warning", "critical"))
    status = serializers.ChoiceField(("active", "ack", "cleared"))
    value = AnyJson(help_text="the metric when it opened or last escalated")
    startTime = serializers.DateTimeField()
    endTime = serializers.DateTimeField(allow_null=True)
    dateModified = serializers.DateTimeField()
