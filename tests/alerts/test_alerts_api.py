"""Alert CRUD through the property dialect (SPEC §12): owners, shapes, bad definitions as a
400 in the v3 error shape, who may."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from alerts.models import Alert
from devices.services.plugs import Enrolled
from plugboard.services import key_create
from tests.alerts.conftest import alert_body
from tests.conftest import Tenant, basic, plug_headers

pytestmark = pytest.mark.django_db


def create(api: APIClient, tenant: Tenant, body: dict[str, Any], path: str = "/v3/alerts") -> Any:
    return api.post(path, body, format="json", **tenant.master_headers())


def test_crud_on_a_device(api: APIClient, tenant: Tenant, device: Enrolled) -> None:
    r = create(api, tenant, alert_body(device.plug.id, metric="avg(5m)", ttl=600))
    assert r.status_code == 201, r.content
    alert = r.json()
    assert alert["id"].startswith("_alr_") and alert["accountId"] == tenant.account.id
    assert alert["ownerId"] == device.plug.id and alert["trigger"] == "temperature"
    assert alert["triggerId"].startswith("_prp_") and alert["metric"] == "avg(5m)" and alert["ttl"] == 600
    assert alert["status"] == "enabled" and alert["locked"] is False
    assert alert["conditions"][1]["expression"] == {"operation": "gt", "value": 40}
    assert alert["recover"] == [{"key": "3", "notification": "log"}]
    assert {"dateCreated", "dateModified", "friendlyName", "description", "tags"} <= set(alert)

    listed = api.get(f"/v3/alerts?owner={device.plug.id}", **tenant.master_headers()).json()
    assert listed["total"] == 1 and listed["results"][0]["id"] == alert["id"]
    under_account = f"/v3/accounts/{tenant.account.id}/alerts/{alert['id']}"
    assert api.get(under_account, **tenant.master_headers()).json() == alert

    r = api.put(
        f"/v3/alerts/{alert['id']}",
        {"status": "disabled", "friendlyName": "Hot"},
        format="json",
        **tenant.master_headers(),
    )
    assert r.status_code == 200 and r.json()["status"] == "disabled" and r.json()["friendlyName"] == "Hot"
    assert r.json()["conditions"] == alert["conditions"]  # a PUT changes what it names only

    assert api.delete(f"/v3/alerts/{alert['id']}", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert api.get(f"/v3/alerts/{alert['id']}", **tenant.master_headers()).status_code == 404


def test_profile_and_app_owners(api: APIClient, tenant: Tenant) -> None:
    h = tenant.master_headers()
    profile = api.post("/v3/deviceprofiles", {"name": "thermostat"}, format="json", **h).json()
    api.post(
        "/v3/properties",
        {
            "ownerId": profile["id"],
            "name": "temperature",
            "type": "number",
            "access": "protected",
            "publish": "always",
        },
        format="json",
        **h,
    )
    r = create(api, tenant, alert_body(profile["id"]))
    assert r.status_code == 201, r.content
    assert r.json()["ownerId"] == profile["id"]
    # The built-in `active` is a trigger of every owner.
    app = api.post("/v3/apps", {"name": "gateway"}, format="json", **h).json()
    r = create(
        api,
        tenant,
        alert_body(
            app["id"],
            name="offline",
            trigger="active",
            conditions=[{"severity": "critical", "expression": {"operation": "eq", "value": "inactive"}}],
            recover=[],
        ),
    )
    assert r.status_code == 201, r.content
    app_profile = api.post("/v3/appprofiles", {"name": "gateways"}, format="json", **h).json()
    r = create(api, tenant, alert_body(app_profile["id"], name="offline2", trigger="active", recover=[]))
    assert r.status_code == 201, r.content
    # The SDK's form: the owner in the query string.
    body = alert_body(profile["id"], name="via-query")
    del body["ownerId"]
    r = create(api, tenant, body, path=f"/v3/alerts?owner={profile['id']}")
    assert r.status_code == 201 and r.json()["ownerId"] == profile["id"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"trigger": "pressure"}, "no property pressure"),
        ({"metric": "median(5m)"}, "metric"),
        ({"metric": "avg(40d)"}, "31 days"),
        ({"conditions": []}, "conditions"),
        ({"conditions": [{"severity": "fatal", "expression": {"operation": "gt", "value": 1}}]}, "severity"),
        (
            {"conditions": [{"severity": "warning", "expression": {"operation": "gt", "value": "hot"}}]},
            "number",
        ),
        (
            {
                "conditions": [
                    {"severity": "warning", "expression": {"operation": "between", "value": [5, 1]}}
                ]
            },
            "low",
        ),
        (
            {"conditions": [{"severity": "warning", "expression": {"operation": "like", "value": 1}}]},
            "operation",
        ),
        ({"recover": [{"key": "x", "notification": "pager"}]}, "unknown notification"),
        ({"notifications": [{"name": "w", "action": "webhook", "url": "ftp://x"}]}, "http"),
        ({"notifications": [{"name": "m", "action": "email"}]}, "to"),
        ({"notifications": [{"name": "c", "action": "command", "method": "setpoint"}]}, "parameter"),
        ({"ttl": -1}, "ttl"),
        ({"name": "9lives"}, "name"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_definitions_are_400_in_the_v3_shape(
    api: APIClient, tenant: Tenant, device: Enrolled, change: dict[str, Any], says: str
) -> None:
    r = create(api, tenant, alert_body(device.plug.id, **change))
    assert r.status_code == 400, r.content
    [error] = r.json()
    assert error["code"] == 400 and error["cause"] == "BadRequest" and says in error["message"]
    assert not Alert.objects.exists()


def test_who_may(api: APIClient, tenant: Tenant, other_tenant: Tenant, device: Enrolled) -> None:
    alert = create(api, tenant, alert_body(device.plug.id)).json()
    # Another account sees nothing of it.
    assert api.get(f"/v3/alerts/{alert['id']}", **other_tenant.master_headers()).status_code == 404
    assert create(api, other_tenant, alert_body(device.plug.id)).status_code == 404
    # A device key reads nothing and changes nothing.
    assert api.get(f"/v3/alerts/{alert['id']}", **plug_headers(device)).status_code == 403
    # A read-only API client key reads, and may not change.
    key, secret = key_create(account=tenant.account, kind="apiclient", scope=["device:read"])
    assert api.get(f"/v3/alerts/{alert['id']}", **basic(key.id, secret)).status_code == 200
    r = api.delete(f"/v3/alerts/{alert['id']}", **basic(key.id, secret))
    assert r.status_code == 403 and r.json()[0]["cause"] == "Forbidden"
    # No credentials: 401.
    assert api.get("/v3/alerts").status_code == 401
