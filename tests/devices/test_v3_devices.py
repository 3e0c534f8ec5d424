"""The property dialect's device management (SPEC §6 "Management"): devices, properties, logs,
commands — driven through `/v3/` as the Connio SDKs call it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from commands.services import CommandOrder, commands_create
from devices.models import Control, DeviceLogEntry, DeviceProfile, Plug, Property
from devices.services.plugs import Enrolled
from plugboard.services import apiclient_create
from plugboard.timestamps import parse_timestamp
from tests.conftest import Tenant, basic, plug_headers

DEVICE_KEYS = {
    "id",
    "accountId",
    "name",
    "friendlyName",
    "profileId",
    "apps",
    "status",
    "period",
    "annotateWithLoc",
    "annotateWithMeta",
    "locked",
    "customIds",
    "tags",
    "description",
    "location",
    "dateCreated",
    "dateModified",
    "connected",
    "lastSeen",
    "transport",
}
PAGE_KEYS = {"total", "itemCount", "numOfPages", "pageNo", "skip", "results"}


def send(api: APIClient, method: str, url: str, body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(api, method)(url, data=data, content_type="application/json", **headers)


def raw(api: APIClient, method: str, url: str, text: str, **headers: str) -> Any:
    return getattr(api, method)(url, data=text, content_type="application/json", **headers)


def assert_v3_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "cause", "message"}
    assert body[0]["code"] == status


def apiclient_headers(tenant: Tenant, scope: list[str], **kwargs: Any) -> dict[str, str]:
    key, secret = apiclient_create(account=tenant.account, scope=scope, **kwargs)
    return basic(key.id, secret)


# --- list and create -------------------------------------------------------------------------


def test_list_is_a_v3_page_of_devices(
    api: APIClient, tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        tenant.plug(f"dev{i}")
    with django_assert_max_num_queries(4):  # auth, count, page, controllers of the page
        response = api.get("/v3/devices?pageSize=2&pageNo=2", **tenant.master_headers())
    assert response.status_code == 200
    page = response.json()
    assert set(page) == PAGE_KEYS
    assert page["total"] == 5 and page["itemCount"] == 2 and page["numOfPages"] == 3
    assert page["pageNo"] == 2 and page["skip"] == 2
    assert [d["name"] for d in page["results"]] == ["dev2", "dev3"]
    assert set(page["results"][0]) == DEVICE_KEYS


def test_bad_paging_is_a_400(api: APIClient, tenant: Tenant) -> None:
    assert_v3_error(api.get("/v3/devices?pageSize=abc", **tenant.master_headers()), 400)
    assert_v3_error(api.get("/v3/devices?pageNo=0", **tenant.master_headers()), 400)


def test_create_returns_the_device_with_v3_fields(api: APIClient, tenant: Tenant) -> None:
    profile = DeviceProfile.objects.create(account=tenant.account, name="boiler")
    body = {
        "name": "Boiler-1",
        "friendlyName": "Boiler in the basement",
        "description": "gas boiler",
        "tags": ["heating", "basement"],
        "location": {"zone": "basement", "geo": {"lat": 41.39, "lon": 2.17, "alt": 12}},
        "status": "debug",
        "profileId": profile.id,
        "customIds": {"sn": "B-100"},
        "period": 30,
        "annotateWithLoc": True,
    }
    response = send(api, "post", "/v3/devices", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    device = response.json()
    assert set(device) == DEVICE_KEYS
    assert device["id"].startswith("dev-") and device["accountId"] == tenant.account.id
    assert device["name"] == "Boiler-1" and device["friendlyName"] == "Boiler in the basement"
    assert device["status"] == "debug" and device["period"] == 30 and device["annotateWithLoc"] is True
    assert device["annotateWithMeta"] is False and device["locked"] is False
    assert device["location"] == {"zone": "basement", "geo": {"lat": 41.39, "lon": 2.17, "alt": 12}}
    assert device["profileId"] == profile.id and device["customIds"] == {"sn": "B-100"}
    assert device["tags"] == ["heating", "basement"] and device["apps"] == []
    assert device["dateCreated"].endswith("Z") or "+" in device["dateCreated"]
    plug = Plug.objects.get(id=device["id"])
    assert plug.status == Plug.Status.DEBUG
    # One location for both dialects: CloudPlugs' {x: lon, y: lat, z: alt}.
    assert plug.props["location"] == {"x": 2.17, "y": 41.39, "z": 12}
    # It got its device key: the channel dialect reads it with it.
    key = api.get(f"/v3/devices/{plug.id}/apikey", **tenant.master_headers()).json()
    assert api.get(f"/iot/device/{plug.id}", **basic(plug.id, key["secret"])).status_code == 200


def test_create_with_only_a_name_gets_defaults(api: APIClient, tenant: Tenant) -> None:
    device = send(api, "post", "/v3/devices", {"name": "bare"}, **tenant.master_headers()).json()
    assert device["status"] == "enabled" and device["friendlyName"] == "bare"
    assert device["location"] is None and device["customIds"] == {} and device["period"] == 0
    assert device["profileId"] is None and device["tags"] == [] and device["description"] == ""


def test_create_under_the_account_prefix(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    own = f"/v3/accounts/{tenant.account.id}/devices"
    assert send(api, "post", own, {"name": "a"}, **tenant.master_headers()).status_code == 201
    this = "/v3/accounts/_this_/devices"
    assert send(api, "post", this, {"name": "b"}, **tenant.master_headers()).status_code == 201
    other = f"/v3/accounts/{other_tenant.account.id}/devices"
    assert_v3_error(send(api, "post", other, {"name": "c"}, **tenant.master_headers()), 404)
    assert set(Plug.objects.values_list("name", flat=True)) == {"a", "b"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),  # no name
        ({"name": "9lives"}, 400),  # must start with a letter
        ({"name": 42}, 400),
        ({"name": "ok", "tags": "a,b"}, 400),
        ({"name": "ok", "status": "on"}, 400),
        ({"name": "ok", "status": ["enabled"]}, 400),
        ({"name": "ok", "period": "60"}, 400),
        ({"name": "ok", "period": -5}, 400),
        ({"name": "ok", "locked": "yes"}, 400),
        ({"name": "ok", "customIds": ["a"]}, 400),
        ({"name": "ok", "location": {"geo": {"lat": 91, "lon": 0}}}, 400),
        ({"name": "ok", "location": "Barcelona"}, 400),
        ({"name": "ok", "friendlyName": 7}, 400),
        ({"name": "ok", "colour": "red"}, 400),  # unknown field
        ({"name": "ok", "apps": ["dev-000000000000000000000000"]}, 404),
    ],
)
def test_create_refuses_bad_input(api: APIClient, tenant: Tenant, body: dict[str, Any], status: int) -> None:
    assert_v3_error(send(api, "post", "/v3/devices", body, **tenant.master_headers()), status)
    assert not Plug.objects.exists()


def test_malformed_or_non_object_bodies_are_400(api: APIClient, tenant: Tenant) -> None:
    assert_v3_error(raw(api, "post", "/v3/devices", '{"name": ', **tenant.master_headers()), 400)
    assert_v3_error(raw(api, "post", "/v3/devices", '["x"]', **tenant.master_headers()), 400)
    assert_v3_error(raw(api, "post", "/v3/devices", "", **tenant.master_headers()), 400)
    assert_v3_error(raw(api, "post", "/v3/devices", '{"name": NaN}', **tenant.master_headers()), 400)
    assert not Plug.objects.exists()


def test_duplicate_name_is_409_ignoring_case(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "THERMOSTAT"}, **tenant.master_headers()), 409)
    assert Plug.objects.count() == 1


def test_no_or_bad_credentials_are_401(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    assert_v3_error(api.get("/v3/devices"), 401)
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "x"}), 401)
    assert_v3_error(api.get("/v3/devices", **basic(tenant.email, "wrong")), 401)
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}", **basic(thing.plug.id, "0" * 32)), 401)
    assert_v3_error(api.get("/v3/devices", HTTP_X_PLUG_EMAIL=tenant.email), 401)


# --- one device --------------------------------------------------------------------------------


def test_get_by_id_name_or_this(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    for ref in (thing.plug.id, "thermostat", "ThermoStat"):
        response = api.get(f"/v3/devices/{ref}", **tenant.master_headers())
        assert response.status_code == 200 and response.json()["id"] == thing.plug.id
    own = api.get("/v3/devices/_this_", **plug_headers(thing))
    assert own.status_code == 200 and own.json()["id"] == thing.plug.id
    prefixed = api.get(f"/v3/accounts/{tenant.account.id}/devices/thermostat", **tenant.master_headers())
    assert prefixed.status_code == 200
    assert_v3_error(api.get("/v3/devices/_this_", **tenant.master_headers()), 404)
    assert_v3_error(api.get("/v3/devices/nosuch", **tenant.master_headers()), 404)
    assert_v3_error(api.get("/v3/devices/dev-000000000000000000000000", **tenant.master_headers()), 404)


def test_put_updates_the_v3_fields(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    body = {
        "name": "thermo-2",
        "friendlyName": "Hall thermostat",
        "description": "by the door",
        "tags": ["hall"],
        "location": {"geo": {"lat": -33.9, "lon": 151.2}},
        "status": "disabled",
        "customIds": {"imei": "35-209900-176148-1"},
        "locked": True,
    }
    response = send(api, "put", f"/v3/devices/{thing.plug.id}", body, **tenant.master_headers())
    assert response.status_code == 200, response.content
    device = response.json()
    assert device["name"] == "thermo-2" and device["friendlyName"] == "Hall thermostat"
    assert device["status"] == "disabled" and device["locked"] is True
    assert device["location"] == {"geo": {"lat": -33.9, "lon": 151.2}}
    assert device["customIds"] == {"imei": "35-209900-176148-1"} and device["tags"] == ["hall"]
    plug = Plug.objects.get(id=thing.plug.id)
    assert plug.status == Plug.Status.DISABLED and plug.name == "thermo-2"
    assert plug.props["location"] == {"x": 151.2, "y": -33.9}
    # A disabled device's own credentials are refused.
    assert_v3_error(api.get("/v3/devices/_this_", **plug_headers(thing)), 403)
    # Only what is sent changes; the rest stays.
    again = send(api, "put", "/v3/devices/thermo-2", {"status": "enabled"}, **tenant.master_headers()).json()
    assert again["status"] == "enabled" and again["friendlyName"] == "Hall thermostat"
    assert api.get("/v3/devices/_this_", **plug_headers(thing)).status_code == 200


def test_put_accepts_the_object_it_returned(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    device = api.get(f"/v3/devices/{thing.plug.id}", **tenant.master_headers()).json()
    device["description"] = "edited"
    response = send(api, "put", f"/v3/devices/{thing.plug.id}", device, **tenant.master_headers())
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "edited"
    assert response.json()["location"] is None


def test_put_sets_the_apps_controlling_a_device(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    app = tenant.plug("dashboard", kind="controller")
    url = f"/v3/devices/{thing.plug.id}"
    device = send(api, "put", url, {"apps": [app.plug.id]}, **tenant.master_headers()).json()
    assert device["apps"] == [app.plug.id]
    assert Control.objects.filter(controller=app.plug, thing=thing.plug).exists()
    listed = api.get("/v3/devices", **tenant.master_headers()).json()["results"]
    assert {d["name"]: d["apps"] for d in listed}["thermostat"] == [app.plug.id]
    other = tenant.plug("sensor")
    assert_v3_error(send(api, "put", url, {"apps": [other.plug.id]}, **tenant.master_headers()), 400)
    assert send(api, "put", url, {"apps": []}, **tenant.master_headers()).json()["apps"] == []
    assert not Control.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": None}, {"status": "paused"}, {"tags": [1, 2]}, {"serial": "x"}, {"period": True}],
)
def test_put_refuses_bad_input_and_changes_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any]
) -> None:
    assert_v3_error(send(api, "put", f"/v3/devices/{thing.plug.id}", body, **tenant.master_headers()), 400)
    plug = Plug.objects.get(id=thing.plug.id)
    assert plug.name == "thermostat" and plug.status == Plug.Status.OK and plug.tags == []


def test_put_to_a_taken_name_is_409(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    tenant.plug("other")
    assert_v3_error(
        send(api, "put", "/v3/devices/other", {"name": "Thermostat"}, **tenant.master_headers()), 409
    )


def test_delete_removes_the_device_and_its_key(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    response = api.delete(f"/v3/devices/{thing.plug.id}", **tenant.master_headers())
    assert response.status_code == 200 and response.json() == {"nrOfItems": 1}
    assert not Plug.objects.filter(id=thing.plug.id).exists()
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}", **tenant.master_headers()), 404)
    assert_v3_error(api.get("/v3/devices/_this_", **plug_headers(thing)), 401)
    assert_v3_error(api.delete(f"/v3/devices/{thing.plug.id}", **tenant.master_headers()), 404)


def test_another_accounts_device_is_404_everywhere(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    intruder = other_tenant.master_headers()
    base = f"/v3/devices/{thing.plug.id}"
    for method, url, body in [
        ("get", base, None),
        ("put", base, {"description": "mine now"}),
        ("delete", base, None),
        ("get", f"{base}/properties", None),
        ("post", f"{base}/properties", {"name": "temp"}),
        ("get", f"{base}/apikey", None),
        ("post", f"{base}/apikey", None),
        ("get", f"{base}/logs", None),
        ("get", f"{base}/commands", None),
        ("get", "/v3/devices/thermostat", None),
    ]:
        assert_v3_error(send(api, method, url, body, **intruder), 404)
    # Not even listed, and nothing changed.
    assert api.get("/v3/devices", **intruder).json()["total"] == 0
    plug = Plug.objects.get(id=thing.plug.id)
    assert plug.description == "" and not Property.objects.exists()


# --- who: device keys and API clients --------------------------------------------------------


def test_a_device_key_reads_only_its_own_device(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("sensor")
    mine = plug_headers(thing)
    for suffix in ("", "/properties", "/logs", "/commands", "/apikey"):
        assert api.get(f"/v3/devices/_this_{suffix}", **mine).status_code == 200, suffix
        assert api.get(f"/v3/devices/{thing.plug.id}{suffix}", **mine).status_code == 200, suffix
        assert_v3_error(api.get(f"/v3/devices/{other.plug.id}{suffix}", **mine), 403)
    listed = api.get("/v3/devices", **mine).json()
    assert [d["id"] for d in listed["results"]] == [thing.plug.id]


def test_a_device_key_may_not_create_or_change(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    mine = plug_headers(thing)
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "spawn"}, **mine), 403)
    assert_v3_error(send(api, "put", "/v3/devices/_this_", {"status": "debug"}, **mine), 403)
    assert_v3_error(api.delete("/v3/devices/_this_", **mine), 403)
    assert_v3_error(send(api, "post", "/v3/devices/_this_/properties", {"name": "t"}, **mine), 403)
    assert Plug.objects.count() == 1 and not Property.objects.exists()


def test_a_user_key_manages_the_account(api: APIClient, tenant: Tenant) -> None:
    key_id, secret = tenant.user_key()
    assert send(api, "post", "/v3/devices", {"name": "via-key"}, **basic(key_id, secret)).status_code == 201
    assert api.get("/v3/devices/via-key", **basic(key_id, secret)).status_code == 200


def test_api_client_reads_within_its_context(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("sensor")
    reader = apiclient_headers(
        tenant, ["device:read-data"], context_type="devices", context_ids=[thing.plug.id]
    )
    assert api.get(f"/v3/devices/{thing.plug.id}", **reader).status_code == 200
    assert api.get(f"/v3/devices/{thing.plug.id}/properties", **reader).status_code == 200
    assert_v3_error(api.get(f"/v3/devices/{other.plug.id}", **reader), 403)
    assert [d["id"] for d in api.get("/v3/devices", **reader).json()["results"]] == [thing.plug.id]
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "x"}, **reader), 403)
    assert_v3_error(send(api, "put", f"/v3/devices/{thing.plug.id}", {"description": "x"}, **reader), 403)
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}/apikey", **reader), 403)


def test_api_client_without_a_read_scope_sees_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    writer = apiclient_headers(tenant, ["device:write-data"])
    assert api.get("/v3/devices", **writer).json()["total"] == 0
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}", **writer), 403)


def test_api_client_with_modify_creates_and_updates(api: APIClient, tenant: Tenant) -> None:
    admin = apiclient_headers(tenant, ["device:modify"])
    created = send(api, "post", "/v3/devices", {"name": "provisioned"}, **admin)
    assert created.status_code == 201
    url = f"/v3/devices/{created.json()['id']}"
    assert send(api, "put", url, {"friendlyName": "P"}, **admin).json()["friendlyName"] == "P"
    prop = send(api, "post", f"{url}/properties", {"name": "temp", "type": "number"}, **admin)
    assert prop.status_code == 201


# --- properties ---------------------------------------------------------------------------------


def test_create_and_list_properties(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    url = f"/v3/devices/{thing.plug.id}/properties"
    body = {
        "name": "temperature",
        "type": "number",
        "access": "public",
        "publish": "changed",
        "boundaries": {"min": -40, "max": 125},
        "retention": "30d",
        "description": "room temperature",
    }
    response = send(api, "post", url, body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    prop = response.json()
    assert prop["id"].startswith("_prp_") and prop["ownerId"] == thing.plug.id
    assert prop["accountId"] == tenant.account.id and prop["qualifiedName"] == "thermostat$temperature"
    assert prop["type"] == "number" and prop["access"] == "public" and prop["publish"] == "changed"
    assert prop["boundaries"] == {"min": -40, "max": 125}
    assert prop["retention"]["lifetime"] == "30d" and prop["retention"]["seconds"] == 30 * 86400
    assert prop["description"] == "room temperature" and prop["dateCreated"]
    stored = Property.objects.get(id=prop["id"])
    assert (stored.min, stored.max, stored.retention) == (-40, 125, 30 * 86400)

    send(api, "post", url, {"name": "mode", "type": "string", "min": None}, **tenant.master_headers())
    page = api.get(url, **tenant.master_headers()).json()
    assert set(page) == PAGE_KEYS and page["total"] == 2
    assert [p["name"] for p in page["results"]] == ["mode", "temperature"]
    mode = page["results"][0]
    assert mode["access"] == "protected" and mode["publish"] == "always" and mode["retention"] is None
    assert "boundaries" not in mode


@pytest.mark.parametrize(
    ("retention", "seconds"),
    [
        (3600, 3600),
        ("12h", 43200),
        ("15m", 900),
        ("45s", 45),
        ("2w", 14 * 86400),
        ({"type": "historical", "lifetime": "3M"}, 90 * 86400),
        ({"type": "time", "value": "30d"}, 30 * 86400),
    ],
)
def test_retention_forms(
    api: APIClient, tenant: Tenant, thing: Enrolled, retention: Any, seconds: int
) -> None:
    body = {"name": "p", "retention": retention}
    response = send(api, "post", f"/v3/devices/{thing.plug.id}/properties", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    assert Property.objects.get().retention == seconds


def test_type_words_and_top_level_bounds(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    body = {"name": "level", "type": "integer", "min": 0, "max": 10}
    prop = send(
        api, "post", f"/v3/devices/{thing.plug.id}/properties", body, **tenant.master_headers()
    ).json()
    assert prop["type"] == "number" and prop["boundaries"] == {"min": 0, "max": 10}


def test_duplicate_property_is_409_ignoring_case(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    url = f"/v3/devices/{thing.plug.id}/properties"
    assert send(api, "post", url, {"name": "Temp"}, **tenant.master_headers()).status_code == 201
    assert_v3_error(send(api, "post", url, {"name": "temp"}, **tenant.master_headers()), 409)
    assert Property.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "a/+/b"},
        {"name": "t", "type": "decimal"},
        {"name": "t", "type": 3},
        {"name": "t", "access": "secret"},
        {"name": "t", "publish": "sometimes"},
        {"name": "t", "boundaries": {"min": 5, "max": 1}},
        {"name": "t", "boundaries": {"min": "low"}},
        {"name": "t", "boundaries": [0, 1]},
        {"name": "t", "type": "string", "max": 3},
        {"name": "t", "retention": "forever"},
        {"name": "t", "retention": 0},
        {"name": "t", "retention": -60},
        {"name": "t", "retention": True},
        {"name": "t", "retention": {"type": "mostrecent", "capacity": 10}},
        {"name": "t", "unit": "C"},
        {"name": "t", "description": 12},
    ],
)
def test_property_bad_input_is_400(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any]
) -> None:
    url = f"/v3/devices/{thing.plug.id}/properties"
    assert_v3_error(send(api, "post", url, body, **tenant.master_headers()), 400)
    assert not Property.objects.exists()


def test_property_of_unknown_device_is_404(api: APIClient, tenant: Tenant) -> None:
    url = "/v3/devices/ghost/properties"
    assert_v3_error(send(api, "post", url, {"name": "t"}, **tenant.master_headers()), 404)
    assert_v3_error(api.get(url, **tenant.master_headers()), 404)


# --- connection state -----------------------------------------------------------------------------


def test_the_device_carries_its_connection_state(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    from commands.services import plug_connection_changed

    url = f"/v3/devices/{thing.plug.id}"
    fresh = api.get(url, **tenant.master_headers()).json()
    assert (fresh["connected"], fresh["lastSeen"], fresh["transport"]) == (False, None, None)
    state = {"plug_id": thing.plug.id, "account_id": tenant.account.id, "credential": thing.plug.id}
    plug_connection_changed(connected=True, transport="mqtt-ws", **state)
    online = api.get(url, **tenant.master_headers()).json()
    assert online["connected"] is True and online["transport"] == "mqtt-ws"
    assert parse_timestamp(online["lastSeen"]) > 0
    listed = api.get("/v3/devices", **tenant.master_headers()).json()["results"][0]
    assert (listed["connected"], listed["transport"]) == (True, "mqtt-ws")
    plug_connection_changed(connected=False, transport="mqtt-ws", **state)
    offline = api.get(url, **tenant.master_headers()).json()
    assert (offline["connected"], offline["transport"]) == (False, None)
    assert parse_timestamp(offline["lastSeen"]) >= parse_timestamp(online["lastSeen"])
    # They are read-only: a PUT of the object as read leaves them alone.
    assert send(api, "put", url, online, **tenant.master_headers()).status_code == 200
    assert api.get(url, **tenant.master_headers()).json()["connected"] is False


# --- a property's settings after creation ------------------------------------------------------


def _define(api: APIClient, tenant: Tenant, thing: Enrolled, **body: Any) -> dict[str, Any]:
    body = {"name": "temperature", **body}
    response = send(api, "post", f"/v3/devices/{thing.plug.id}/properties", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def test_get_a_property_by_id_or_name(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    prop = _define(api, tenant, thing, type="number")
    for ref in (prop["id"], "Temperature"):
        response = api.get(f"/v3/devices/{thing.plug.name}/properties/{ref}", **tenant.master_headers())
        assert response.status_code == 200 and response.json()["id"] == prop["id"]
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}/properties/nope", **tenant.master_headers()), 404)


def test_patch_changes_only_what_it_names(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    prop = _define(
        api, tenant, thing, type="number", access="public", boundaries={"min": 0, "max": 50}, retention="1d"
    )
    url = f"/v3/devices/{thing.plug.id}/properties/{prop['id']}"
    response = send(
        api, "patch", url, {"retention": "30d", "boundaries": {"max": 100}}, **tenant.master_headers()
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["retention"]["seconds"] == 30 * 86400 and body["boundaries"] == {"min": 0, "max": 100}
    assert body["type"] == "number" and body["access"] == "public" and body["publish"] == "always"
    stored = Property.objects.get(id=prop["id"])
    assert (stored.retention, stored.min, stored.max, stored.access) == (30 * 86400, 0, 100, "public")

    body = send(api, "patch", url, {"retention": None, "boundaries": None}, **tenant.master_headers()).json()
    assert body["retention"] is None and "boundaries" not in body
    stored.refresh_from_db()
    assert (stored.retention, stored.min, stored.max) == (None, None, None)


def test_put_replaces_the_settings(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    prop = _define(api, tenant, thing, type="number", access="public", min=0, retention=3600, description="d")
    url = f"/v3/devices/{thing.plug.id}/properties/temperature"
    response = send(api, "put", url, {"type": "string", "publish": "changed"}, **tenant.master_headers())
    assert response.status_code == 200, response.content
    stored = Property.objects.get(id=prop["id"])
    assert (stored.type, stored.access, stored.publish) == ("string", "protected", "changed")
    assert (stored.min, stored.max, stored.retention, stored.description) == (None, None, None, "")
    assert stored.name == "temperature"


def test_put_accepts_the_property_it_returned(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    prop = _define(api, tenant, thing, type="number", boundaries={"min": -5, "max": 5}, retention="12h")
    url = f"/v3/devices/{thing.plug.id}/properties/{prop['id']}"
    edited = {**prop, "access": "public"}
    body = send(api, "put", url, edited, **tenant.master_headers()).json()
    assert body["access"] == "public" and body["boundaries"] == {"min": -5, "max": 5}
    assert body["retention"]["seconds"] == 12 * 3600 and body["id"] == prop["id"]


def test_a_changed_retention_applies_to_the_next_points(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    from data.models import DataPoint

    prop = _define(api, tenant, thing, type="number")
    url = f"/v3/devices/{thing.plug.id}/properties/{prop['id']}"
    assert send(api, "patch", url, {"retention": 3600}, **tenant.master_headers()).status_code == 200
    write = send(api, "post", "/v3/data/devices/_this_", {"temperature": 21}, **plug_headers(thing))
    assert write.status_code == 200 and write.json()["accepted"] == 1, write.content
    point = DataPoint.objects.get(channel="temperature")
    assert point.expire_at is not None and 3599_000 <= point.expire_at - point.at <= 3601_000


@pytest.mark.parametrize(
    "body",
    [
        {"type": "decimal"},
        {"type": 3},
        {"access": "secret"},
        {"publish": "sometimes"},
        {"boundaries": {"min": 500}},  # above the stored max
        {"boundaries": {"min": "low"}},
        {"boundaries": [0, 1]},
        {"type": "string"},  # the stored boundaries apply to numbers only
        {"retention": "forever"},
        {"retention": 0},
        {"retention": True},
        {"description": 12},
        {"name": "renamed"},
        {"unit": "C"},
    ],
)
def test_property_update_refuses_bad_values_and_changes_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any]
) -> None:
    prop = _define(api, tenant, thing, type="number", boundaries={"min": 0, "max": 50}, retention=60)
    before = Property.objects.values().get(id=prop["id"])
    url = f"/v3/devices/{thing.plug.id}/properties/{prop['id']}"
    assert_v3_error(send(api, "patch", url, body, **tenant.master_headers()), 400)
    assert Property.objects.values().get(id=prop["id"]) == before
    assert_v3_error(raw(api, "put", url, "[1]", **tenant.master_headers()), 400)
    assert_v3_error(raw(api, "patch", url, "{not json", **tenant.master_headers()), 400)


def test_another_accounts_property_is_404(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    prop = _define(api, tenant, thing, type="number")
    before = Property.objects.values().get(id=prop["id"])
    theirs = other_tenant.master_headers()
    for url in (
        f"/v3/devices/{thing.plug.id}/properties/{prop['id']}",
        f"/v3/devices/{thing.plug.name}/properties/temperature",
        f"/v3/accounts/{tenant.account.id}/devices/{thing.plug.id}/properties/{prop['id']}",
    ):
        for method in ("put", "patch"):
            assert_v3_error(send(api, method, url, {"access": "public"}, **theirs), 404)
        assert_v3_error(api.get(url, **theirs), 404)
    # Their own device, our property id: still not found.
    mine = other_tenant.plug("intruder-dev")
    url = f"/v3/devices/{mine.plug.id}/properties/{prop['id']}"
    assert_v3_error(send(api, "patch", url, {"access": "public"}, **theirs), 404)
    assert Property.objects.values().get(id=prop["id"]) == before


def test_who_may_change_a_property(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    prop = _define(api, tenant, thing, type="number")
    url = f"/v3/devices/{thing.plug.id}/properties/{prop['id']}"
    # The device reads its own property but may not change it.
    assert api.get(url, **plug_headers(thing)).status_code == 200
    assert_v3_error(send(api, "patch", url, {"access": "public"}, **plug_headers(thing)), 403)
    reader = apiclient_headers(tenant, ["device:read"])
    assert api.get(url, **reader).status_code == 200
    assert_v3_error(send(api, "patch", url, {"access": "public"}, **reader), 403)
    assert Property.objects.get(id=prop["id"]).access == "protected"
    admin = apiclient_headers(tenant, ["device:modify"])
    assert send(api, "patch", url, {"access": "public"}, **admin).status_code == 200
    user_id, user_secret = tenant.user_key()
    assert send(api, "put", url, {"access": "private"}, **basic(user_id, user_secret)).status_code == 200
    assert Property.objects.get(id=prop["id"]).access == "private"


def test_property_update_service_checks_who_may(
    tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    """The console calls the service itself: it checks the principal, not only the view."""
    from devices.services.fields import PlugError
    from devices.services.management import property_define, property_update
    from plugboard.principals import Principal

    prop = property_define(plug=thing.plug, name="level", type="number", max=10)

    def account(t: Tenant) -> Principal:
        return Principal(account_id=t.account.id, kind="account", credential=t.account.email)

    owner = account(tenant)
    changed = property_update(principal=owner, prop=prop, min=1, description="litres")
    assert (changed.min, changed.max, changed.description, changed.type) == (1, 10, "litres", "number")
    with pytest.raises(PlugError) as refused:
        property_update(principal=account(other_tenant), prop=prop, min=2)
    assert refused.value.status_code == 404
    with pytest.raises(PlugError):
        property_update(principal=owner, prop=prop, min=20)  # above max
    plug_id = thing.plug.id
    device = Principal(account_id=tenant.account.id, kind="plug", credential=plug_id, plug_id=plug_id)
    with pytest.raises(PlugError) as refused:
        property_update(principal=device, prop=prop, min=2)
    assert refused.value.status_code == 403
    assert Property.objects.get(id=prop.id).min == 1


# --- logs and commands -------------------------------------------------------------------------


def test_logs_newest_first(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    for i in range(3):
        DeviceLogEntry.objects.create(
            plug=thing.plug, source="http", property="temp", code="BadValue", message=f"m{i}"
        )
    page = api.get(f"/v3/devices/{thing.plug.id}/logs?pageSize=2", **tenant.master_headers()).json()
    assert set(page) == PAGE_KEYS and page["total"] == 3 and page["numOfPages"] == 2
    assert [e["message"] for e in page["results"]] == ["m2", "m1"]
    entry = page["results"][0]
    assert set(entry) == {"id", "t", "dateCreated", "source", "property", "code", "message"}
    assert entry["source"] == "http" and entry["property"] == "temp" and entry["code"] == "BadValue"


def test_commands_newest_first_with_their_state(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    at = 1_700_000_000_000
    orders = [
        CommandOrder(
            account_id=tenant.account.id,
            plug_id=thing.plug.id,
            property="setpoint",
            value=v,
            at=at + v,
            point_id="",
            credential=tenant.email,
        )
        for v in (1, 2)
    ]
    commands_create(orders=orders[:1])
    commands_create(orders=orders[1:])
    page = api.get(f"/v3/devices/{thing.plug.id}/commands", **tenant.master_headers()).json()
    assert page["total"] == 2
    newest = page["results"][0]
    assert newest["value"] == 2 and newest["property"] == "setpoint" and newest["state"] == "pending"
    assert newest["t"] == "2023-11-14T22:13:20.002Z"
    assert newest["sentAt"] is None and newest["ackedAt"] is None
    assert parse_timestamp(newest["expiresAt"]) > parse_timestamp(newest["dateCreated"])


def test_logs_and_commands_of_a_device_outside_reach(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("sensor")
    for suffix in ("logs", "commands"):
        assert_v3_error(api.get(f"/v3/devices/{other.plug.id}/{suffix}", **plug_headers(thing)), 403)
        assert_v3_error(api.get(f"/v3/devices/ghost/{suffix}", **tenant.master_headers()), 404)


def test_properties_created_with_owner_as_the_connio_sdks_do(api, tenant, thing) -> None:
    response = api.post(
        f"/v3/accounts/_this_/properties?owner={thing.plug.id}",
        {"name": "setPoint", "type": "number", "access": "public", "ownerId": thing.plug.id},
        format="json",
        **tenant.master_headers(),
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "setPoint"
    listed = api.get(f"/v3/properties?owner={thing.plug.name}", **tenant.master_headers())
    assert [p["name"] for p in listed.json()["results"]] == ["setPoint"]
    assert api.get("/v3/properties", **tenant.master_headers()).status_code == 400
