"""Evaluation (SPEC §12): after a write commits, each alert whose trigger it wrote is evaluated
on each written point, and its incident on that device opens, escalates or clears.

The write sink (`alerts.apps`) hands over only the points whose property some enabled alert of
the account watches (`alerts.watch`: no query otherwise); everything here runs after the write
committed, in its own transaction per incident change, and an error is logged, never raised:
an alert never fails a write.

- The highest matching severity wins. `warning`/`critical` open the (alert, device) incident or
  escalate it, and run that condition's handlers; the same or a lower severity again does
  nothing. `info` runs its handlers every time and opens nothing.
- No `warning`/`critical` condition matching is "back to normal": the open incident clears and
  the alert's `recover` handlers run.
- At most one incident is open per (alert, device), whoever writes: the partial unique index
  `incident_one_open` refuses a second opener, which then takes the first one's incident.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.definitions import metric_window
from alerts.models import SEVERITY_RANK, Alert, Incident
from alerts.notifications import notifications_run
from alerts.services import incident_clear, incident_log
from alerts.watch import incident_closed, incident_is_open, incident_opened, snapshot
from data.models import DataPoint
from data.services import StoredPoint
from plugboard.parsers import is_json_number
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)
MAX_WINDOW_POINTS = 100_000


def points_evaluate(points: Sequence[StoredPoint]) -> None:
    """Evaluate the alerts the points trigger (after commit; errors logged, never raised)."""
    try:
        _evaluate(points)
    except Exception:
        log.exception("alert evaluation of %d points failed", len(points))


def _evaluate(points: Sequence[StoredPoint]) -> None:
    snap = snapshot()
    now = now_ms()
    opened: dict[tuple[str, str], Incident | None] = {}  # the incidents read by this batch
    for p in sorted(points, key=lambda p: p.at):
        for alert in snap.alerts_of(p.account_id, p.channel, snap.owners(p.of, p.profile)):
            if alert.ttl is not None and p.at < now - alert.ttl * 1000:
                continue
            value = _metric(alert, p)
            _decide(alert, p, value, opened)


def _metric(alert: Alert, p: StoredPoint) -> Any:
    """The alert's metric at point `p`: its value, or an aggregate of the property's points in
    the period before it."""
    window = metric_window(alert.metric)
    if window is None:
        return p.data
    fn, seconds = window
    rows = (
        DataPoint.objects.filter(
            account_id=p.account_id, channel=p.channel, of=p.of, at__gt=p.at - seconds * 1000, at__lte=p.at
        )
        .filter(Q(expire_at__isnull=True) | Q(expire_at__gt=now_ms()))
        .values_list("data", flat=True)[:MAX_WINDOW_POINTS]
    )
    values: list[Any] = list(rows)
    if fn == "count":
        return len(values)
    numbers: list[float] = [v for v in values if is_json_number(v)]
    if not numbers:
        return None
    if fn == "sum":
        return sum(numbers)
    if fn == "min":
        return min(numbers)
    if fn == "max":
        return max(numbers)
    return sum(numbers) / len(numbers)


def _previous(p: StoredPoint) -> Any:
    """The property's value just before `p` (for `changed`); None when `p` is its first."""
    return (
        DataPoint.objects.filter(account_id=p.account_id, channel=p.channel, of=p.of, at__lt=p.at)
        .order_by("-at")
        .values_list("data", flat=True)
        .first()
    )


def matches(operation: str, operand: Any, value: Any, previous: Any = None) -> bool:
    """Whether `value` meets the expression (`previous`: the value before, for `changed`)."""
    if operation == "always":
        return True
    if operation == "changed":
        return value != previous
    if operation == "eq":
        return bool(value == operand)
    if operation == "neq":
        return bool(value != operand)
    if not is_json_number(value):
        return False
    if operation == "gt":
        return bool(value > operand)
    if operation == "gte":
        return bool(value >= operand)
    if operation == "lt":
        return bool(value < operand)
    if operation == "lte":
        return bool(value <= operand)
    low, high = operand
    inside = bool(low <= value <= high)
    return inside if operation == "between" else not inside


def _decide(alert: Alert, p: StoredPoint, value: Any, opened: dict[tuple[str, str], Incident | None]) -> None:
    previous: Any = None
    if any(c["expression"]["operation"] == "changed" for c in alert.conditions):
        previous = _previous(p)
    matched = [
        c
        for c in alert.conditions
        if matches(c["expression"]["operation"], c["expression"].get("value"), value, previous)
    ]
    infos = [c for c in matched if c["severity"] == "info"]
    worst = max(
        (c for c in matched if c["severity"] != "info"),
        key=lambda c: SEVERITY_RANK[c["severity"]],
        default=None,
    )
    key = (alert.id, p.of)
    if not infos and worst is None and key not in opened and not incident_is_open(*key):
        return  # normal, and nothing open: nothing to do (and no query)
    if key not in opened:
        opened[key] = _open(alert, p.of) if incident_is_open(*key) else None
    open_incident = opened[key]
    with transaction.atomic():
        for c in infos:
            notifications_run(
                alert=alert,
                plug_id=p.of,
                account_id=p.account_id,
                handlers=c.get("handlers", []),
                severity="info",
                value=value,
                incident=None,
            )
        if worst is None:
            if open_incident is not None:
                incident_clear(principal=None, incident=open_incident, value=value)
                opened[key] = None
            return
        opened[key] = _raise(alert, p, worst, value, open_incident)


def _open(alert: Alert, plug_id: str) -> Incident | None:
    return (
        Incident.objects.filter(alert=alert, plug_id=plug_id).exclude(status=Incident.Status.CLEARED).first()
    )


def _raise(
    alert: Alert, p: StoredPoint, condition: dict[str, Any], value: Any, incident: Incident | None
) -> Incident | None:
    """Open or escalate the incident; the open incident afterwards (None if it vanished)."""
    severity = condition["severity"]
    if incident is None:
        try:
            with transaction.atomic():  # a savepoint: the unique index may refuse the insert
                incident = Incident.objects.create(
                    account_id=p.account_id, alert=alert, plug_id=p.of, severity=severity, value=value
                )
        except IntegrityError:  # another writer opened it first: take theirs
            incident = _open(alert, p.of)
            if incident is None:
                return None
            incident_opened(alert.id, p.of)
        else:
            incident_opened(alert.id, p.of)
            incident_log(incident, alert, "IncidentOpened", f"{severity}: {alert.trigger} is {value!r}")
            _run(alert, p, condition, value, incident)
            return incident
    if SEVERITY_RANK[severity] <= SEVERITY_RANK[incident.severity]:
        return incident
    # Escalation: only the writer whose update moved the severity notifies.
    lower = [s for s, rank in SEVERITY_RANK.items() if 0 < rank < SEVERITY_RANK[severity]]
    escalated = (
        Incident.objects.filter(id=incident.id, severity__in=lower)
        .exclude(status=Incident.Status.CLEARED)
        .update(severity=severity, value=value, date_modified=timezone.now())
    )
    if (
        not escalated
        and not Incident.objects.filter(id=incident.id).exclude(status=Incident.Status.CLEARED).exists()
    ):
        incident_closed(alert.id, p.of)  # cleared meanwhile (another process, a user): open anew
        return _raise(alert, p, condition, value, None)
    if escalated:
        incident.refresh_from_db()
        incident_log(incident, alert, "IncidentEscalated", f"{severity}: {alert.trigger} is {value!r}")
        _run(alert, p, condition, value, incident)
    return incident


def _run(alert: Alert, p: StoredPoint, condition: dict[str, Any], value: Any, incident: Incident) -> None:
    notifications_run(
        alert=alert,
        plug_id=p.of,
        account_id=p.account_id,
        handlers=condition.get("handlers", []),
        severity=condition["severity"],
        value=value,
        incident=incident,
    )
