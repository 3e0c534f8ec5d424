"""Django admin for alerts, incidents and device activity (SPEC §9, §12): read-only, since an
alert's definition is checked by the API (its property, expression and notifications) and an
incident changes only through its lifecycle (ack and clear write the device log)."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import Alert, DeviceActivity, Incident
from data.admin import ReadOnlyAdmin


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "account_id", "owner_id", "trigger", "metric", "status")
    list_filter = ("status",)
    search_fields = ("=id", "name", "=owner_id", "=account__id")


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("id", "alert_id", "plug_id", "severity", "status", "start_time", "date_modified")
    list_filter = ("status", "severity")
    search_fields = ("=id", "=alert__id", "=plug__id")


@admin.register(DeviceActivity)
class DeviceActivityAdmin(ReadOnlyAdmin):
    list_display = ("plug_id", "account_id", "period", "state", "due_at", "last_in_at", "last_out_at")
    list_filter = ("state",)
    search_fields = ("=plug__id", "=account_id")
