"""Reads of the alerts app: alerts and incidents the caller may see (`devices.access`)."""

from __future__ import annotations

from django.db.models import QuerySet

from alerts.models import Alert, Incident
from devices import access
from devices.models import DeviceProfile
from plugboard.errors import ApiError
from plugboard.principals import Principal

OPEN = "open"
MAX_DEPTH = 10  # a profile's chain of bases, as devices.services.profiles bounds it


def alert_lookup(*, principal: Principal, alert_id: str, change: bool = False) -> Alert:
    """One of the account's alerts, if the caller may read (`change`: manage) its owner's."""
    alert = Alert.objects.filter(account_id=principal.account_id, id=alert_id[:64]).first()
    if alert is None:
        raise ApiError(404, f"no alert {alert_id[:64]}")
    access.alert_owner_access(principal, alert.owner_id, change=change)
    return alert


def alerts_of(*, principal: Principal, owner_id: str | None) -> QuerySet[Alert]:
    """The alerts of `owner_id`, or every alert the caller may read."""
    rows = Alert.objects.filter(account_id=principal.account_id)
    if owner_id:
        access.alert_owner_access(principal, owner_id, change=False)
        return rows.filter(owner_id=owner_id)
    if not access.may_read_alerts(principal):
        raise ApiError(403, "these credentials may not read alerts")
    reach = access.incident_devices_reach(principal)
    if not reach.everything:
        rows = rows.filter(owner_id__in=reach.ids)
    return rows


def incidents_of(
    *, principal: Principal, device: str | None = None, alert: str | None = None, status: str | None = None
) -> QuerySet[Incident]:
    """The incidents of the devices the caller may see, newest first."""
    if not access.may_read_alerts(principal):
        raise ApiError(403, "these credentials may not read incidents")
    rows = Incident.objects.filter(account_id=principal.account_id).select_related("alert")
    reach = access.incident_devices_reach(principal)
    if not reach.everything:
        rows = rows.filter(plug_id__in=reach.ids)
    if device:
        rows = rows.filter(plug_id=device)
    if alert:
        rows = rows.filter(alert_id=alert)
    if status == OPEN:
        rows = rows.exclude(status=Incident.Status.CLEARED)
    elif status:
        if status not in Incident.Status.values:
            raise ApiError(400, "status is active, ack, cleared or open")
        rows = rows.filter(status=status)
    return rows.order_by("-start_time", "id")


def incident_lookup(*, principal: Principal, incident_id: str) -> Incident:
    found = incidents_of(principal=principal).filter(id=incident_id[:64]).first()
    if found is None:
        raise ApiError(404, f"no incident {incident_id[:64]}")
    return found


def alerts_applying(*, plug_id: str, profile_id: str | None, account_id: str) -> list[Alert]:
    """The alerts evaluated on a plug's writes: its own, its profile's and the profile's bases'."""
    owners = [plug_id]
    while profile_id and profile_id not in owners and len(owners) <= MAX_DEPTH:
        owners.append(profile_id)
        profile_id = (
            DeviceProfile.objects.filter(id=profile_id).values_list("base_profile_id", flat=True).first()
        )
    return list(Alert.objects.filter(account_id=account_id, owner_id__in=owners).order_by("name", "id"))
