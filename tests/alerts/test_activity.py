"""Device activity (SPEC §12): `period` drives `active`, `lastIn`, `lastOut`; a silent device
turns inactive at the first scan after its due time, active on its next message; one statement
per scan; alerts trigger on `active`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from alerts.activity import activity_scan
from alerts.models import DeviceActivity, Incident
from alerts.watch import watch_reset
from devices.models import Property
from devices.services.plugs import Enrolled
from plugboard.timestamps import now_ms
from tests.alerts.conftest import alert_body
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db
Write = Callable[..., Any]


def set_period(api: APIClient, tenant: Tenant, device: Enrolled, period: int) -> None:
    r = api.put(f"/v3/devices/{device.plug.id}", {"period": period}, format="json", **tenant.master_headers())
    assert r.status_code == 200 and r.json()["period"] == period
    watch_reset()  # the change reaches the snapshots on commit; the test's transaction never commits


def active(device: Enrolled) -> Any:
    prop = Property.objects.filter(plug=device.plug, name="active").first()
    return prop.last_value if prop else None


def test_silent_device_turns_inactive_then_active(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write, django_capture_on_commit_callbacks: Any
) -> None:
    h = tenant.master_headers()
    assert api.get(f"/v3/devices/{device.plug.id}/activity", **h).json()["active"] == "unknown"
    set_period(api, tenant, device, 10)
    before = now_ms()
    write(21)
    row = DeviceActivity.objects.get(plug=device.plug)
    assert row.state == "active" and row.last_in_property == "temperature"
    assert before + 10_000 <= row.due_at <= now_ms() + 10_000
    assert active(device) == "active"

    assert activity_scan(now=row.due_at - 1) == 0  # not yet
    with django_capture_on_commit_callbacks(execute=True):
        assert activity_scan(now=row.due_at) == 1
    assert DeviceActivity.objects.get(plug=device.plug).state == "inactive" and active(device) == "inactive"
    activity = api.get(f"/v3/devices/{device.plug.id}/activity", **h).json()
    assert activity["active"] == "inactive" and activity["period"] == 10
    assert activity["lastIn"]["property"] == "temperature"
    # The data API reads `active` like any property.
    assert api.get(f"/v3/data/devices/{device.plug.id}", **h).json()["active"] == "inactive"

    write(22)  # its next message
    assert DeviceActivity.objects.get(plug=device.plug).state == "active" and active(device) == "active"

    set_period(api, tenant, device, 0)  # not watched any more
    assert DeviceActivity.objects.get(plug=device.plug).due_at is None
    assert activity_scan(now=now_ms() + 10**9) == 0


def test_one_statement_per_scan_whatever_the_number_of_devices(
    api: APIClient, tenant: Tenant, device: Enrolled
) -> None:
    plugs = [tenant.plug(f"d{i}").plug for i in range(50)]
    DeviceActivity.objects.bulk_create(
        DeviceActivity(
            plug=p, account_id=tenant.account.id, period=60, state="active", due_at=now_ms() + 60_000
        )
        for p in plugs
    )
    with CaptureQueriesContext(connection) as scan:
        assert activity_scan() == 0
    assert [q["sql"] for q in scan.captured_queries if "alerts_deviceactivity" in q["sql"]] == [
        q["sql"] for q in scan.captured_queries if q["sql"].startswith("UPDATE")
    ]
    assert len([q for q in scan.captured_queries if "alerts_deviceactivity" in q["sql"]]) == 1


def test_alert_on_active(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write, django_capture_on_commit_callbacks: Any
) -> None:
    set_period(api, tenant, device, 30)
    conditions = [
        {
            "severity": "critical",
            "expression": {"operation": "eq", "value": "inactive"},
            "handlers": [{"key": "1", "notification": "log"}],
        }
    ]
    body = alert_body(device.plug.id, name="offline", trigger="active", conditions=conditions)
    assert api.post("/v3/alerts", body, format="json", **tenant.master_headers()).status_code == 201
    watch_reset()
    write(20)
    due = DeviceActivity.objects.get(plug=device.plug).due_at
    with django_capture_on_commit_callbacks(execute=True):
        activity_scan(now=due)
    assert Incident.objects.get().status == "active"
    write(21)  # back: `active` again clears the incident
    assert Incident.objects.get().status == "cleared"


def test_last_out_records_commands(api: APIClient, tenant: Tenant, device: Enrolled, write: Write) -> None:
    set_period(api, tenant, device, 60)
    write(0, prop="setpoint")
    Property.objects.filter(plug=device.plug, name="setpoint").update(access="public")
    r = api.post(
        f"/v3/data/devices/{device.plug.id}", {"setpoint": 22}, format="json", **tenant.master_headers()
    )
    assert r.json() == {"accepted": 1, "rejected": 0}
    row = DeviceActivity.objects.get(plug=device.plug)
    assert row.last_out_property == "setpoint" and row.last_out_at is not None
    assert row.last_in_property == "setpoint"  # the device's own write before the command
