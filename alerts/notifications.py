"""An alert's notifications (SPEC §12 `notifications`, `handlers`, `recover`): what runs when an
incident opens or escalates, when an `info` condition matches, and when an incident clears.

Called inside the transaction that changed the incident, so what must go out is committed with
the change: `log` is a device-log line, `command` a write into a public property of the device
through the write service (it becomes a command), and the deliveries to the outside
(`webhook`, `email`, `mqtt` to an external broker or to the platform's own) are rows of the
durable outbox.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any

from alerts.delivery import EMAIL, MQTT, MQTT_OWN, WEBHOOK
from data.services import PointIn, points_write
from devices.device_log import device_log_append
from outbound.outbox import outbox_add
from plugboard.principals import Principal
from plugboard.timestamps import now_ms

if TYPE_CHECKING:  # only for the annotations: models import this module's callers
    from alerts.models import Alert, Incident

log = logging.getLogger(__name__)
SOURCE = "alerts"


@dataclass(frozen=True)
class Occasion:
    """What a template may say: `${value}`, `${device}`, `${property}`, `${severity}`, `${alert}`."""

    alert: str
    device: str
    property: str
    severity: str
    value: Any

    def render(self, template: str) -> str:
        return Template(template).safe_substitute(
            value=_text(self.value),
            device=self.device,
            property=self.property,
            severity=self.severity,
            alert=self.alert,
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def notifications_run(
    *,
    alert: Alert,
    plug_id: str,
    account_id: str,
    handlers: list[dict[str, Any]],
    severity: str,
    value: Any,
    incident: Incident | None,
) -> None:
    """Run `handlers` (`[{key, notification}]`) of `alert` for the device, inside the caller's
    transaction."""
    by_name = {n["name"]: n for n in alert.notifications}
    occasion = Occasion(alert.name, plug_id, alert.trigger, severity, value)
    for handler in handlers:
        notification = by_name.get(handler.get("notification", ""))
        if notification is None:
            continue
        message = occasion.render(
            notification.get("message") or "${alert}: ${property} is ${value} (${severity})"
        )
        action = notification["action"]
        if action == "log":
            device_log_append(
                account_id=account_id,
                plug_id=plug_id,
                source=SOURCE,
                code=f"Alert{severity.capitalize()}",
                message=message,
                prop=alert.trigger,
            )
        elif action == "command":
            _command(alert, account_id, plug_id, notification)
        else:
            _deliver(alert, account_id, plug_id, notification, occasion, message, incident)


def _command(alert: Alert, account_id: str, plug_id: str, notification: dict[str, Any]) -> None:
    """Write `parameter` into the device's property `method` as the account would: a public
    property's write is a command to the device (SPEC §4 rule 5)."""
    principal = Principal(account_id=account_id, kind="account", credential=alert.id)
    point = PointIn(channel=notification["method"], data=notification.get("parameter"), of=plug_id)
    (result,) = points_write(principal=principal, points=[point], source=SOURCE, property_write=True)
    if not result.ok:
        device_log_append(
            account_id=account_id,
            plug_id=plug_id,
            source=SOURCE,
            code="AlertCommandRefused",
            message=f"{alert.name}: {notification['name']}: {result.message}",
            prop=notification["method"],
        )


def _deliver(
    alert: Alert,
    account_id: str,
    plug_id: str,
    notification: dict[str, Any],
    occasion: Occasion,
    message: str,
    incident: Incident | None,
) -> None:
    """Queue the notification in the durable outbox, in the caller's transaction (delivered
    after the commit, retried until it goes out: `alerts.delivery`)."""
    body = {
        "alert": alert.name,
        "alertId": alert.id,
        "incidentId": incident.id if incident else None,
        "device": plug_id,
        "property": alert.trigger,
        "severity": occasion.severity,
        "value": occasion.value,
        "message": message,
        "at": now_ms(),
    }
    action = notification["action"]
    if action == "webhook":
        payload = {
            "url": notification["url"],
            "method": (notification.get("method") or "POST").upper(),
            "signatureKey": notification.get("signatureKey", ""),
            "body": body,
        }
        outbox_add(
            account_id=account_id, kind=WEBHOOK, target=notification["url"], key=plug_id, payloads=[payload]
        )
    elif action == "email":
        payload = {
            "subject": occasion.render(notification.get("subject") or "${alert}: ${severity}"),
            "body": body,
        }
        outbox_add(
            account_id=account_id, kind=EMAIL, target=notification["to"], key=plug_id, payloads=[payload]
        )
    elif action == "mqtt" and notification.get("url"):
        payload = {"url": notification["url"], "topic": occasion.render(notification["topic"]), "body": body}
        outbox_add(
            account_id=account_id, kind=MQTT, target=notification["url"], key=plug_id, payloads=[payload]
        )
    elif action == "mqtt":  # the platform's own broker: the account's `{account}/alerts/{device}`
        outbox_add(
            account_id=account_id,
            kind=MQTT_OWN,
            target=account_id,
            key=plug_id,
            payloads=[{"device": plug_id, "body": body}],
        )
