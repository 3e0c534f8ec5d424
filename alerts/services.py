"""Alerts and incidents as users change them (SPEC §12): create, replace, delete an alert;
acknowledge and clear an incident. Who may: `devices.access` (`alert_owner_access`,
`may_manage_alerts`); the shape: `alerts.definitions`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from alerts.definitions import BUILT_IN_TRIGGERS, AlertInSerializer
from alerts.delivery import target_refusal
from alerts.models import Alert, Incident
from alerts.notifications import notifications_run
from alerts.presenters import alert_input, incident_json
from alerts.watch import incident_closed, watch_changed
from devices import access
from devices.device_log import device_log_append
from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from devices.services.profiles import effective_properties
from plugboard.errors import ApiError
from plugboard.live import Kind, console_group, group_send, someone_listens
from plugboard.principals import Principal

READ_ONLY = frozenset({"id", "accountId", "dateCreated", "dateModified", "triggerId", "triggerPropId"})
SOURCE = "alerts"


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    # A GET's object sent back: `triggerId` is the trigger (the SDK sends `trigger`).
    if "trigger" not in body and isinstance(body.get("triggerId"), str):
        body["trigger"] = body["triggerId"]
    known = set(AlertInSerializer().fields)
    unknown = sorted(set(body) - known - READ_ONLY)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    serializer = AlertInSerializer(data={k: v for k, v in body.items() if k in known})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _trigger(owner: Plug | DeviceProfile, ref: str) -> tuple[str, str]:
    """(name, id) of the trigger property `ref` (an id or a name, case-insensitive) of the
    owner; a 400 when it has none (the built-in `active` always exists)."""
    if ref in BUILT_IN_TRIGGERS:
        return ref, ref
    found: Property | ProfileProperty | None
    if isinstance(owner, Plug):
        props = Property.objects.filter(plug=owner)
        found = (
            props.filter(id=ref).first()
            if ref.startswith("_prp_")
            else props.filter(name__iexact=ref).first()
        )
    else:
        effective = effective_properties(owner)
        found = next((p for p in effective.values() if p.id == ref), None) or effective.get(ref.lower())
    if found is None:
        raise ApiError(400, f"{owner.id} has no property {ref}")
    return found.name, found.id


def _apply(alert: Alert, owner: Plug | DeviceProfile, attrs: dict[str, Any]) -> None:
    alert.trigger, alert.trigger_id = _trigger(owner, attrs["trigger"])
    alert.name = attrs["name"]
    alert.friendly_name = attrs.get("friendlyName") or ""
    alert.description = attrs.get("description") or ""
    alert.tags = attrs.get("tags") or []
    alert.status = attrs["status"]
    alert.metric = attrs["metric"]
    alert.ttl = attrs.get("ttl")
    alert.conditions = _plain(attrs["conditions"])
    alert.recover = _plain(attrs["recover"])
    alert.notifications = _plain(attrs["notifications"])
    for notification in alert.notifications:
        schemes = {"webhook": ("http", "https"), "mqtt": ("mqtt", "mqtts")}.get(notification["action"])
        if schemes and notification.get("url") and (refusal := target_refusal(notification["url"], schemes)):
            raise ApiError(400, f"notification {notification['name']}: {refusal}")
    alert.locked = attrs["locked"]


def _plain(value: Any) -> Any:
    """Validated data (OrderedDicts and ReturnLists) as plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def alert_create(*, principal: Principal, body: dict[str, Any], owner_id: str | None = None) -> Alert:
    """A new alert of the owner the body (or `owner_id`, the `?owner=` of the request) names."""
    if owner_id and "ownerId" not in body:
        body = {**body, "ownerId": owner_id}
    attrs = _validated(body)
    owner = access.alert_owner_access(principal, attrs["ownerId"], change=True)
    alert = Alert(account_id=principal.account_id, owner_id=owner.id)
    _apply(alert, owner, attrs)
    with transaction.atomic():
        alert.save()
        watch_changed()
    return alert


def alert_update(*, principal: Principal, alert: Alert, body: dict[str, Any]) -> Alert:
    """Replace what the body names (the SDK's update sends only name, friendlyName, status)."""
    if alert.locked and body.get("locked") is not False:
        raise ApiError(403, f"alert {alert.id} is locked")
    if "ownerId" in body and body["ownerId"] != alert.owner_id:
        raise ApiError(400, "an alert's owner cannot change (create another alert)")
    attrs = _validated({**alert_input(alert), **body})
    owner = access.alert_owner_access(principal, alert.owner_id, change=True)
    _apply(alert, owner, attrs)
    with transaction.atomic():
        alert.save()
        watch_changed()
    return alert


def alert_delete(*, principal: Principal, alert: Alert) -> int:
    """Remove the alert (and its incidents)."""
    access.alert_owner_access(principal, alert.owner_id, change=True)
    if alert.locked:
        raise ApiError(403, f"alert {alert.id} is locked")
    with transaction.atomic():
        removed = Alert.objects.filter(id=alert.id).delete()[1].get(Alert._meta.label, 0)
        watch_changed()
    return removed


# --- incidents ------------------------------------------------------------------------------


def incident_log(incident: Incident, alert: Alert, code: str, message: str) -> None:
    """An incident's change, in its device's log and on the account's open console pages."""
    device_log_append(
        account_id=incident.account_id,
        plug_id=incident.plug_id,
        source=SOURCE,
        code=code,
        message=f"{alert.name}: {message}",
        prop=alert.trigger,
    )
    if someone_listens(incident.account_id):
        body = incident_json(incident)
        body["alertName"] = alert.name
        transaction.on_commit(
            lambda: group_send(Kind.INCIDENT, console_group(incident.account_id), incident=body)
        )


def incident_ack(*, principal: Principal, incident: Incident) -> Incident:
    """Acknowledge an active incident (it stays open until it clears)."""
    if not access.may_manage_alerts(principal):
        raise ApiError(403, "these credentials may not acknowledge incidents")
    with transaction.atomic():
        changed = Incident.objects.filter(id=incident.id, status=Incident.Status.ACTIVE).update(
            status=Incident.Status.ACK, date_modified=timezone.now()
        )
        incident.refresh_from_db()
        if changed:
            incident_log(incident, incident.alert, "IncidentAck", f"acknowledged by {principal.credential}")
    return incident


def incident_clear(*, principal: Principal | None, incident: Incident, value: Any = None) -> bool:
    """Clear an open incident (by a user, or `principal` None: its metric returned to normal,
    then the alert's `recover` handlers run). False when it was cleared already."""
    if principal is not None and not access.may_manage_alerts(principal):
        raise ApiError(403, "these credentials may not clear incidents")
    with transaction.atomic():
        changed = (
            Incident.objects.filter(id=incident.id)
            .exclude(status=Incident.Status.CLEARED)
            .update(status=Incident.Status.CLEARED, end_time=timezone.now(), date_modified=timezone.now())
        )
        incident_closed(incident.alert_id, incident.plug_id)
        if not changed:
            return False
        incident.refresh_from_db()
        alert = incident.alert
        who = f"cleared by {principal.credential}" if principal else "cleared: back to normal"
        incident_log(incident, alert, "IncidentCleared", who)
        if principal is None:
            notifications_run(
                alert=alert,
                plug_id=incident.plug_id,
                account_id=incident.account_id,
                handlers=alert.recover,
                severity=incident.severity,
                value=value,
                incident=incident,
            )
    return True
