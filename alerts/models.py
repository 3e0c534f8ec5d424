"""Alerts, their incidents and the activity of watched devices (SPEC §12)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from plugboard.identifiers import new_alert_id, new_incident_id

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class Alert(models.Model):
    """Connio's alert: conditions on one property (`trigger`) of the devices its owner covers
    (a device or an app; a device or app profile: every plug made from it or from a profile
    derived from it). `conditions`, `recover` and `notifications` are kept as the validated
    JSON the API accepted (`alerts.definitions`)."""

    class Status(models.TextChoices):
        ENABLED = "enabled"
        DISABLED = "disabled"

    id = models.CharField(primary_key=True, max_length=29, default=new_alert_id, editable=False)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="alerts")
    # A plug id (`dev-…`) or a profile id (`_dpf_…`, `_apf_…`); removed with its owner
    # (`alerts.signals`).
    owner_id = models.CharField(max_length=29)
    name = models.CharField(max_length=64)
    friendly_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ENABLED)
    # The trigger property by name (a property is channel `name` of its plug): what the write
    # sink matches. `trigger_id`: the property (or profile property) id it was given as.
    trigger = models.CharField(max_length=200)
    trigger_id = models.CharField(max_length=29, blank=True)
    metric = models.CharField(max_length=40, default="value")
    ttl = models.PositiveIntegerField(null=True, blank=True, help_text="seconds; older points ignored")
    conditions = models.JSONField(default=list)
    recover = models.JSONField(default=list, blank=True)
    notifications = models.JSONField(default=list, blank=True)
    locked = models.BooleanField(default=False)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "owner_id"], name="alert_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Incident(models.Model):
    """One alert's trouble on one device, from its opening to its clearing."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        ACK = "ack"
        CLEARED = "cleared"

    id = models.CharField(primary_key=True, max_length=29, default=new_incident_id, editable=False)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="incidents")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="incidents")
    plug = models.ForeignKey("devices.Plug", on_delete=models.CASCADE, related_name="incidents")
    severity = models.CharField(max_length=10)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    value = models.JSONField(null=True, blank=True, help_text="the metric that opened or escalated it")
    start_time = models.DateTimeField(auto_now_add=True)
    end_time = models.DateTimeField(null=True, blank=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_time", "id"]
        constraints = [
            # At most one open incident per (alert, device), whoever writes at the same time:
            # the second opener's insert fails and it takes the first one's incident.
            models.UniqueConstraint(
                "alert",
                "plug",
                condition=~Q(status="cleared"),
                name="incident_one_open",
            ),
        ]
        indexes = [models.Index(fields=["account", "status", "-start_time"], name="incident_list")]

    def __str__(self) -> str:
        return f"{self.alert_id} on {self.plug_id}: {self.severity} {self.status}"


class DeviceActivity(models.Model):
    """A device's `period` and what it drives (Connio's built-in Device profile): `active`,
    `lastIn`, `lastOut`. `due_at` is when a silent watched device turns inactive; the scan
    finds the due ones with one query over the partial index (never a loop over devices)."""

    class State(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"
        UNKNOWN = "unknown"

    plug = models.OneToOneField(
        "devices.Plug", primary_key=True, on_delete=models.CASCADE, related_name="activity"
    )
    account_id = models.CharField(max_length=28)
    period = models.PositiveIntegerField(default=0, help_text="seconds; 0: not watched")
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    due_at = models.BigIntegerField(null=True, blank=True, help_text="ms; inactive if silent until then")
    last_in_at = models.BigIntegerField(null=True, blank=True)
    last_in_property = models.CharField(max_length=200, blank=True)
    last_out_at = models.BigIntegerField(null=True, blank=True)
    last_out_property = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "device activities"
        indexes = [
            models.Index(fields=["due_at"], condition=Q(due_at__isnull=False), name="activity_due"),
        ]

    def __str__(self) -> str:
        return f"{self.plug_id}: {self.state}"
