"""Evaluation and the incident lifecycle (SPEC §12): open, escalate, clear on return to normal
(recover runs) or by a user, ack; `info` notifies and opens nothing; metrics; profile owners;
every change in the device log; no query for a property without an alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from alerts.evaluation import points_evaluate
from alerts.models import Incident
from alerts.sink import alerts_sink
from alerts.watch import incident_is_open, snapshot, watch_reset
from commands.models import Command
from data.services import StoredPoint, WriteOutcome
from devices.models import DeviceLogEntry, Property
from devices.services.plugs import Enrolled
from plugboard.timestamps import now_ms
from tests.alerts.conftest import alert_body
from tests.conftest import Tenant, basic, plug_headers

pytestmark = pytest.mark.django_db
Write = Callable[..., Any]


def make_alert(api: APIClient, tenant: Tenant, owner: str, **fields: Any) -> dict[str, Any]:
    r = api.post("/v3/alerts", alert_body(owner, **fields), format="json", **tenant.master_headers())
    assert r.status_code == 201, r.content
    # The change reaches the processes' snapshots once it commits, which the test's
    # transaction never does: this process's is rebuilt by hand.
    watch_reset()
    return r.json()


def log_codes(device: Enrolled) -> list[str]:
    return list(DeviceLogEntry.objects.filter(plug=device.plug).order_by("id").values_list("code", flat=True))


def test_open_escalate_and_clear(api: APIClient, tenant: Tenant, device: Enrolled, write: Write) -> None:
    make_alert(api, tenant, device.plug.id)
    write(25)
    assert not Incident.objects.exists() and log_codes(device) == []
    write(35)
    incident = Incident.objects.get()
    assert (incident.severity, incident.status, incident.value) == ("warning", "active", 35)
    assert log_codes(device) == ["IncidentOpened", "AlertWarning"]
    write(36)  # the same severity again: nothing new
    assert log_codes(device) == ["IncidentOpened", "AlertWarning"]
    write(45)  # escalation notifies
    incident.refresh_from_db()
    assert incident.severity == "critical" and Incident.objects.count() == 1
    assert log_codes(device)[2:] == ["IncidentEscalated", "AlertCritical"]
    write(35)  # lower again: the incident keeps its highest severity, no notification
    assert len(log_codes(device)) == 4
    write(20)  # back to normal: cleared, recover runs
    incident.refresh_from_db()
    assert incident.status == "cleared" and incident.end_time is not None
    assert log_codes(device)[4:] == ["IncidentCleared", "AlertCritical"]
    message = DeviceLogEntry.objects.filter(plug=device.plug, code="AlertWarning").get().message
    assert message == f"too-hot {device.plug.id} temperature=35 warning"
    write(50)  # a new incident
    assert Incident.objects.filter(status="active").count() == 1 and Incident.objects.count() == 2


def test_info_notifies_every_time_and_opens_nothing(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write
) -> None:
    conditions = [
        {
            "severity": "info",
            "expression": {"operation": "always"},
            "handlers": [{"key": "i", "notification": "log"}],
        }
    ]
    make_alert(api, tenant, device.plug.id, conditions=conditions, recover=[])
    write(1)
    write(2)
    assert log_codes(device) == ["AlertInfo", "AlertInfo"] and not Incident.objects.exists()


def test_users_ack_and_clear(api: APIClient, tenant: Tenant, device: Enrolled, write: Write) -> None:
    alert = make_alert(api, tenant, device.plug.id)
    write(45)
    h = tenant.master_headers()
    [listed] = api.get(f"/v3/incidents?device={device.plug.id}&status=active", **h).json()["results"]
    assert (
        listed["alertId"] == alert["id"] and listed["severity"] == "critical" and listed["status"] == "active"
    )
    assert api.get(f"/v3/incidents?alert={alert['id']}&status=cleared", **h).json()["total"] == 0
    r = api.post(f"/v3/incidents/{listed['id']}/ack", **h)
    assert r.status_code == 200 and r.json()["status"] == "ack"
    write(46)  # still open, acknowledged: no new incident
    assert Incident.objects.get().status == "ack"
    assert api.get("/v3/incidents?status=open", **h).json()["total"] == 1
    r = api.delete(f"/v3/incidents/{listed['id']}", **h)
    assert r.status_code == 200 and r.json()["status"] == "cleared"
    assert log_codes(device)[-2:] == ["IncidentAck", "IncidentCleared"]
    # A user's clear runs no recover handler.
    assert "AlertCritical" not in log_codes(device)[-2:]
    # A device key may not ack.
    write(47)
    new = Incident.objects.get(status="active")
    assert api.post(f"/v3/incidents/{new.id}/ack", **plug_headers(device)).status_code == 403


def test_profile_alert_applies_to_its_devices_and_derived_profiles(
    api: APIClient, tenant: Tenant, write: Write, django_capture_on_commit_callbacks: Any
) -> None:
    h = tenant.master_headers()
    base = api.post("/v3/deviceprofiles", {"name": "sensor"}, format="json", **h).json()
    prop = {"ownerId": base["id"], "name": "temperature", "type": "number"}
    assert api.post("/v3/properties", prop, format="json", **h).status_code == 201
    derived = {"name": "thermo", "baseProfile": base["id"]}
    derived = api.post("/v3/deviceprofiles", derived, format="json", **h).json()
    make_alert(api, tenant, base["id"])
    made = api.post("/v3/devices", {"name": "t1", "profileId": derived["id"]}, format="json", **h).json()
    key = api.get(f"/v3/devices/{made['id']}/apikey", **h).json()
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(
            f"/v3/data/devices/{made['id']}",
            {"temperature": 41},
            format="json",
            **basic(key["id"], key["secret"]),
        )
    assert r.json() == {"accepted": 1, "rejected": 0}
    write(41)  # the fixture's device has no profile: untouched
    assert Incident.objects.count() == 1 and Incident.objects.get().plug_id == made["id"]


def test_aggregate_metric_changed_and_ttl(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write, django_capture_on_commit_callbacks: Any
) -> None:
    conditions = [{"severity": "warning", "expression": {"operation": "gte", "value": 3}, "handlers": []}]
    make_alert(api, tenant, device.plug.id, metric="count(1h)", conditions=conditions, recover=[])
    write(1)  # the fixture's first point and this one: 2
    assert not Incident.objects.exists()
    write(1)
    assert Incident.objects.get().value == 3

    changed = [
        {
            "severity": "info",
            "expression": {"operation": "changed"},
            "handlers": [{"key": "c", "notification": "log"}],
        }
    ]
    write("eco", prop="mode")
    make_alert(api, tenant, device.plug.id, name="moved", trigger="mode", conditions=changed, recover=[])
    before = log_codes(device).count("AlertInfo")
    write("eco", prop="mode")
    write("boost", prop="mode")
    assert log_codes(device).count("AlertInfo") == before + 1

    old = [{"severity": "critical", "expression": {"operation": "always"}, "handlers": []}]
    write(40, prop="humidity")
    make_alert(
        api, tenant, device.plug.id, name="fresh", trigger="humidity", ttl=60, conditions=old, recover=[]
    )
    with_at = {"dps": [{"t": now_ms() - 3_600_000, "v": 80}]}
    with django_capture_on_commit_callbacks(execute=True):
        path = f"/v3/data/devices/{device.plug.id}/properties/humidity"
        api.post(path, with_at, format="json", **plug_headers(device))
    assert not Incident.objects.filter(alert__name="fresh").exists()
    write(41, prop="humidity")  # a fresh point: evaluated
    assert Incident.objects.filter(alert__name="fresh").exists()


def test_command_notification_writes_a_public_property(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write
) -> None:
    write(0, prop="fan")
    Property.objects.filter(plug=device.plug, name="fan").update(access="public")
    notifications = [{"name": "cool", "action": "command", "method": "fan", "parameter": 100}]
    handlers = [{"key": "1", "notification": "cool"}]
    conditions = [
        {"severity": "critical", "expression": {"operation": "gt", "value": 40}, "handlers": handlers}
    ]
    make_alert(api, tenant, device.plug.id, conditions=conditions, notifications=notifications, recover=[])
    write(45)
    command = Command.objects.get(plug=device.plug)
    assert (command.property, command.value) == ("fan", 100)


def test_no_query_for_a_property_without_an_alert(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write, django_assert_num_queries: Any
) -> None:
    make_alert(api, tenant, device.plug.id)
    snapshot()  # built once per process (and again only when an alert changes)
    point = StoredPoint(tenant.account.id, device.plug.id, "humidity", now_ms(), 50, "0" * 24, False, "x")
    with django_assert_num_queries(0):
        alerts_sink(WriteOutcome(source="http", stored=[point] * 1000, rejected=0))
    # A whole write of an unwatched property costs what it cost before alerts existed.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as with_alert_elsewhere:
        write(50, prop="humidity")
    assert not any("alerts_" in q["sql"] for q in with_alert_elsewhere.captured_queries)


def test_no_query_for_a_watched_point_that_matches_nothing(
    api: APIClient, tenant: Tenant, device: Enrolled, write: Write, django_assert_num_queries: Any
) -> None:
    """The account's alerts, the profile chain and the open incidents are known in the process:
    evaluating a normal value with nothing open costs no query; a matching one still opens."""
    make_alert(api, tenant, device.plug.id)
    snapshot()
    incident_is_open("", "")  # the open pairs, loaded once per process
    point = StoredPoint(tenant.account.id, device.plug.id, "temperature", now_ms(), 25, "0" * 24, False, "x")
    with django_assert_num_queries(0):
        points_evaluate([point] * 100)
    write(35)
    (incident,) = Incident.objects.filter(plug=device.plug)
    assert incident.severity == "warning" and incident_is_open(incident.alert_id, device.plug.id)
    write(25)
    incident.refresh_from_db()
    assert incident.status == "cleared" and not incident_is_open(incident.alert_id, device.plug.id)


def test_a_reload_of_the_open_pairs_keeps_this_process_changes_not_yet_committed(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    """Another process's change makes this one reload the open pairs from the table, which does
    not hold this process's own change before it commits: the change is laid over the reload
    (without it, a normal value would skip the clear of an incident opened here)."""
    from django.core.cache import cache

    from alerts import watch

    incident_is_open("", "")  # loaded
    watch.incident_opened("_alr_x", "dev-x")  # in the test's transaction: never committed
    cache.set(watch.OPEN_TOKEN_KEY, "another process counted a change", None)
    assert watch._open is not None
    monkeypatch.setattr(watch._open, "checked", 0.0)  # its check interval is over
    with django_assert_num_queries(1):  # reloaded from the table
        assert incident_is_open("_alr_x", "dev-x")
    watch.incident_closed("_alr_x", "dev-x")
    assert not incident_is_open("_alr_x", "dev-x")
