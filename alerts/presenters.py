"""The alert and incident JSON (SPEC §12), as `alerts.definitions` documents them."""

from __future__ import annotations

from typing import Any

from alerts.models import Alert, Incident
from plugboard.property_dialect import iso_date


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "accountId": alert.account_id,
        "ownerId": alert.owner_id,
        "name": alert.name,
        "friendlyName": alert.friendly_name or alert.name,
        "description": alert.description or None,
        "tags": alert.tags or [],
        "status": alert.status,
        "triggerId": alert.trigger_id or alert.trigger,
        "trigger": alert.trigger,
        "metric": alert.metric,
        "ttl": alert.ttl,
        "conditions": alert.conditions,
        "recover": alert.recover,
        "notifications": alert.notifications,
        "locked": alert.locked,
        "dateCreated": iso_date(alert.date_created),
        "dateModified": iso_date(alert.date_modified),
    }


def alert_input(alert: Alert) -> dict[str, Any]:
    """The body that would create `alert` again: a PUT changes what it names on top of it."""
    return {
        "name": alert.name,
        "ownerId": alert.owner_id,
        "friendlyName": alert.friendly_name,
        "description": alert.description,
        "tags": alert.tags,
        "status": alert.status,
        "trigger": alert.trigger_id or alert.trigger,
        "metric": alert.metric,
        "ttl": alert.ttl,
        "conditions": alert.conditions,
        "recover": alert.recover,
        "notifications": alert.notifications,
        "locked": alert.locked,
    }


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "alertId": incident.alert_id,
        "deviceId": incident.plug_id,
        "severity": incident.severity,
        "status": incident.status,
        "value": incident.value,
        "startTime": iso_date(incident.start_time),
        "endTime": iso_date(incident.end_time),
        "dateModified": iso_date(incident.date_modified),
    }
