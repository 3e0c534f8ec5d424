"""Device profiles (SPEC §6 "Fleets"): `/v3/deviceprofiles`, the properties a profile declares
(`/v3/properties?owner=…`), devices made from a profile and what they inherit, as the Connio
SDKs call them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from data.models import DataPoint
from devices.identity import Credentials, verify
from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from devices.services.profiles import profile_property_update
from plugboard.services import apiclient_create
from tests.conftest import Tenant, basic, plug_headers, receipt_counts

PROFILE_KEYS = {
    "id",
    "accountId",
    "name",
    "friendlyName",
    "baseProfile",
    "baseProfileId",
    "description",
    "tags",
    "deviceClass",
    "productName",
    "vendorName",
    "version",
    "imageUrl",
    "system",
    "locked",
    "dateCreated",
    "dateModified",
}


def send(api: APIClient, method: str, url: str, body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(api, method)(url, data=data, content_type="application/json", **headers)


def assert_v3_error(response: Any, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "cause", "message"} and body[0]["code"] == status
    return body


def make_profile(api: APIClient, tenant: Tenant, name: str, **fields: Any) -> dict[str, Any]:
    response = send(api, "post", "/v3/deviceprofiles", {"name": name, **fields}, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def declare(api: APIClient, tenant: Tenant, owner: str, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "ownerId": owner, **fields}
    response = send(api, "post", f"/v3/properties?owner={owner}", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def make_device(api: APIClient, tenant: Tenant, name: str, profile: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if profile is not None:
        body["profile"] = profile
    response = send(api, "post", "/v3/devices", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def device_properties(api: APIClient, tenant: Tenant, device: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"/v3/devices/{device}/properties?pageSize=100", **tenant.master_headers())
    assert response.status_code == 200, response.content
    return {p["name"]: p for p in response.json()["results"]}


# --- CRUD --------------------------------------------------------------------------------------


def test_create_fetch_by_id_and_name_list_update_delete(api: APIClient, tenant: Tenant) -> None:
    created = make_profile(
        api,
        tenant,
        "Boiler",
        friendlyName="Gas boiler",
        description="wall-mounted",
        tags=["heating"],
        deviceClass="boiler",
        productName="B-100",
        vendorName="Acme",
    )
    assert set(created) == PROFILE_KEYS
    assert created["id"].startswith("_dpf_") and len(created["id"]) == 5 + 24
    assert created["accountId"] == tenant.account.id and created["name"] == "Boiler"
    assert created["friendlyName"] == "Gas boiler" and created["tags"] == ["heating"]
    assert (created["deviceClass"], created["productName"], created["vendorName"]) == (
        "boiler",
        "B-100",
        "Acme",
    )
    assert created["baseProfile"] is None and created["locked"] is False
    assert created["dateCreated"].endswith("Z")
    headers = tenant.master_headers()
    for ref in (created["id"], "Boiler", "bOILER"):
        fetched = api.get(f"/v3/deviceprofiles/{ref}", **headers)
        assert fetched.status_code == 200 and fetched.json() == created
    under = api.get(f"/v3/accounts/{tenant.account.id}/deviceprofiles/boiler", **headers)
    assert under.status_code == 200 and under.json()["id"] == created["id"]
    make_profile(api, tenant, "Alarm")
    listed = api.get("/v3/deviceprofiles?pageSize=1&pageNo=2", **headers).json()
    assert listed["total"] == 2 and listed["numOfPages"] == 2 and listed["pageNo"] == 2
    assert [p["name"] for p in listed["results"]] == ["Boiler"]

    changed = send(api, "put", "/v3/deviceprofiles/boiler", {"friendlyName": "Boiler v2"}, **headers)
    assert changed.status_code == 200, changed.content
    assert changed.json()["friendlyName"] == "Boiler v2" and changed.json()["vendorName"] == "Acme"
    # A GET's object sent back with one change is a valid PUT.
    again = {**changed.json(), "description": "floor-standing"}
    assert send(api, "put", f"/v3/deviceprofiles/{created['id']}", again, **headers).status_code == 200
    assert DeviceProfile.objects.get(id=created["id"]).description == "floor-standing"

    deleted = api.delete("/v3/deviceprofiles/Boiler", **headers)
    assert deleted.status_code == 200 and deleted.json() == {"nrOfItems": 1}
    assert_v3_error(api.get(f"/v3/deviceprofiles/{created['id']}", **headers), 404)


def test_a_name_is_unique_per_account_ignoring_case(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    make_profile(api, tenant, "Boiler")
    clash = send(api, "post", "/v3/deviceprofiles", {"name": "BOILER"}, **tenant.master_headers())
    assert "already exists" in assert_v3_error(clash, 409)[0]["message"]
    make_profile(api, tenant, "Alarm")
    renamed = send(api, "put", "/v3/deviceprofiles/alarm", {"name": "boiler"}, **tenant.master_headers())
    assert_v3_error(renamed, 409)
    make_profile(api, other_tenant, "Boiler")  # another account's namespace


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 7},
        {"name": "1st"},
        {"name": "ok", "tags": "heating"},
        {"name": "ok", "friendlyName": "x" * 121},
        {"name": "ok", "vendorName": 3},
        {"name": "ok", "colour": "red"},
        {"name": "ok", "baseProfile": 5},
    ],
)
def test_bad_bodies_are_400(api: APIClient, tenant: Tenant, body: dict[str, Any]) -> None:
    assert_v3_error(send(api, "post", "/v3/deviceprofiles", body, **tenant.master_headers()), 400)
    assert not DeviceProfile.objects.exists()


def test_not_json_is_400(api: APIClient, tenant: Tenant) -> None:
    response = api.post(
        "/v3/deviceprofiles", data="{nope", content_type="application/json", **tenant.master_headers()
    )
    assert_v3_error(response, 400)
    assert_v3_error(send(api, "post", "/v3/deviceprofiles", [1], **tenant.master_headers()), 400)


def test_unknown_base_is_404_and_a_circle_is_400(api: APIClient, tenant: Tenant) -> None:
    headers = tenant.master_headers()
    missing = send(api, "post", "/v3/deviceprofiles", {"name": "x", "baseProfile": "nowhere"}, **headers)
    assert_v3_error(missing, 404)
    root = make_profile(api, tenant, "Root")
    middle = make_profile(api, tenant, "Middle", baseProfile="root")
    assert middle["baseProfile"] == "Root" and middle["baseProfileId"] == root["id"]
    leaf = make_profile(api, tenant, "Leaf", baseProfile=middle["id"])
    for ref, base in (("root", "leaf"), ("root", "root"), ("middle", "Leaf")):
        response = send(api, "put", f"/v3/deviceprofiles/{ref}", {"baseProfile": base}, **headers)
        assert "circular" in assert_v3_error(response, 400)[0]["message"]
    assert DeviceProfile.objects.get(id=root["id"]).base_profile_id is None
    assert DeviceProfile.objects.get(id=leaf["id"]).base_profile_id == middle["id"]


def test_delete_is_refused_while_a_device_or_a_profile_uses_it(api: APIClient, tenant: Tenant) -> None:
    headers = tenant.master_headers()
    base = make_profile(api, tenant, "Base")
    make_profile(api, tenant, "Derived", baseProfile="Base")
    body = assert_v3_error(api.delete("/v3/deviceprofiles/base", **headers), 409)
    assert "base of Derived" in body[0]["message"]
    device = make_device(api, tenant, "boiler-1", profile="derived")
    body = assert_v3_error(api.delete("/v3/deviceprofiles/derived", **headers), 409)
    assert "used by 1 device" in body[0]["message"]
    assert DeviceProfile.objects.filter(id=base["id"]).exists()
    assert api.delete(f"/v3/devices/{device['id']}", **headers).status_code == 200
    assert api.delete("/v3/deviceprofiles/derived", **headers).status_code == 200
    assert api.delete("/v3/deviceprofiles/base", **headers).status_code == 200
    assert not DeviceProfile.objects.exists()


# --- properties and inheritance ----------------------------------------------------------------


def test_a_device_made_from_a_profile_gets_its_properties(api: APIClient, tenant: Tenant) -> None:
    profile = make_profile(api, tenant, "Thermostat")
    declared = declare(
        api, tenant, profile["id"], "temperature", type="number", boundaries={"min": -40, "max": 125}
    )
    assert declared["ownerId"] == profile["id"] and declared["id"].startswith("_prp_")
    assert declared["qualifiedName"] == "Thermostat$temperature"
    assert declared["boundaries"] == {"min": -40, "max": 125} and declared["inherited"] is False
    declare(api, tenant, "thermostat", "setpoint", type="number", access="public", retention="30d")
    listed = api.get("/v3/properties?owner=THERMOSTAT", **tenant.master_headers()).json()
    assert [p["name"] for p in listed["results"]] == ["setpoint", "temperature"]

    device = make_device(api, tenant, "living-room", profile="thermostat")  # by name, any case
    assert device["profileId"] == profile["id"]
    assert (
        api.get(f"/v3/devices/{device['id']}", **tenant.master_headers()).json()["profileId"] == profile["id"]
    )
    props = device_properties(api, tenant, device["id"])
    assert set(props) == {"setpoint", "temperature"}
    assert props["temperature"]["inherited"] is True and props["temperature"]["ownerId"] == device["id"]
    assert props["temperature"]["boundaries"] == {"min": -40, "max": 125}
    assert props["setpoint"]["access"] == "public" and props["setpoint"]["retention"]["seconds"] == 30 * 86400
    # The same through /v3/properties?owner={device}.
    owned = api.get(f"/v3/properties?owner={device['id']}", **tenant.master_headers()).json()
    assert {p["name"] for p in owned["results"]} == {"setpoint", "temperature"}

    # Declared later: every device of the profile gets it too, in as many statements for 1
    # device as for 10 (bulk, never a statement per device).
    counts = []
    for devices, name in ((1, "humidity"), (10, "pressure")):
        while Plug.objects.filter(profile_id=profile["id"]).count() < devices:
            make_device(api, tenant, f"room-{Plug.objects.count()}", profile=profile["id"])
        with CaptureQueriesContext(connection) as queries:
            declare(api, tenant, profile["id"], name, type="number")
        counts.append(len(queries))
        copies = Property.objects.filter(name=name, inherited_from__profile_id=profile["id"])
        assert copies.count() == devices
    assert counts[0] == counts[1], counts


def test_a_name_declared_twice_on_a_profile_is_409(api: APIClient, tenant: Tenant) -> None:
    profile = make_profile(api, tenant, "Thermostat")
    declare(api, tenant, profile["id"], "temperature")
    body = {"name": "TEMPERATURE", "type": "number"}
    response = send(api, "post", f"/v3/properties?owner={profile['id']}", body, **tenant.master_headers())
    assert_v3_error(response, 409)
    bad = {"name": "x", "type": "string", "boundaries": {"min": 1}}
    response = send(api, "post", f"/v3/properties?owner={profile['id']}", bad, **tenant.master_headers())
    assert_v3_error(response, 400)
    assert ProfileProperty.objects.count() == 1


def test_base_profiles_inherit_and_the_nearest_declaration_wins(api: APIClient, tenant: Tenant) -> None:
    base = make_profile(api, tenant, "Sensor")
    declare(api, tenant, base["id"], "battery", type="number", boundaries={"min": 0, "max": 100})
    declare(api, tenant, base["id"], "label", type="string")
    derived = make_profile(api, tenant, "Thermometer", baseProfile="sensor")
    declare(api, tenant, derived["id"], "label", type="number")  # overrides the base's
    device = make_device(api, tenant, "t1", profile="Thermometer")
    props = device_properties(api, tenant, device["id"])
    assert set(props) == {"battery", "label"}
    assert props["label"]["type"] == "number" and props["battery"]["boundaries"]["max"] == 100
    assert Property.objects.get(plug_id=device["id"], name="label").inherited_from.profile_id == derived["id"]

    # A base property declared after the device exists reaches it through the derived profile.
    declare(api, tenant, base["id"], "rssi", type="number")
    assert "rssi" in device_properties(api, tenant, device["id"])
    # Changing the base's declaration changes the device's copy; the overridden one stays.
    principal = verify(Credentials("email", tenant.email, tenant.password, master=True))
    assert principal is not None
    battery = ProfileProperty.objects.get(profile_id=base["id"], name="battery")
    profile_property_update(principal=principal, declared=battery, max=4200)
    label = ProfileProperty.objects.get(profile_id=base["id"], name="label")
    profile_property_update(principal=principal, declared=label, description="from the base")
    props = device_properties(api, tenant, device["id"])
    assert props["battery"]["boundaries"] == {"min": 0, "max": 4200}
    assert props["label"]["type"] == "number" and props["label"]["description"] == ""


def test_a_device_override_is_never_touched_by_its_profile(api: APIClient, tenant: Tenant) -> None:
    profile = make_profile(api, tenant, "Thermostat")
    declare(api, tenant, profile["id"], "temperature", type="number", boundaries={"min": 0, "max": 50})
    device = make_device(api, tenant, "lab", profile=profile["id"])
    # The device declares its own: the inherited row becomes its own, with the device's settings.
    own = declare(
        api, tenant, device["id"], "temperature", type="number", boundaries={"min": -200, "max": 500}
    )
    assert own["inherited"] is False and own["boundaries"] == {"min": -200, "max": 500}
    # A property the device has of its own before the profile declares it stays the device's.
    send(
        api,
        "post",
        f"/v3/devices/{device['id']}/properties",
        {"name": "mode", "type": "string"},
        **tenant.master_headers(),
    )
    declare(api, tenant, profile["id"], "mode", type="number")
    principal = verify(Credentials("email", tenant.email, tenant.password, master=True))
    assert principal is not None
    declared = ProfileProperty.objects.get(profile_id=profile["id"], name="temperature")
    profile_property_update(principal=principal, declared=declared, max=60)
    props = device_properties(api, tenant, device["id"])
    assert props["temperature"]["boundaries"] == {"min": -200, "max": 500}
    assert props["mode"]["type"] == "string" and props["mode"]["inherited"] is False
    # A PUT of a device's inherited property makes it the device's own too.
    other = make_device(api, tenant, "hall", profile=profile["id"])
    response = send(
        api,
        "patch",
        f"/v3/devices/{other['id']}/properties/temperature",
        {"description": "mine"},
        **tenant.master_headers(),
    )
    assert response.status_code == 200 and response.json()["inherited"] is False
    profile_property_update(principal=principal, declared=declared, max=70)
    assert device_properties(api, tenant, other["id"])["temperature"]["boundaries"]["max"] == 60


def test_a_point_into_an_inherited_property_obeys_the_profile(api: APIClient, tenant: Tenant) -> None:
    profile = make_profile(api, tenant, "Thermostat")
    declare(api, tenant, profile["id"], "temperature", type="number", boundaries={"min": -40, "max": 125})
    declare(api, tenant, profile["id"], "mode", type="string", retention="1h")
    created = make_device(api, tenant, "kitchen", profile="thermostat")
    plug = Plug.objects.get(id=created["id"])
    key = api.get(f"/v3/devices/{plug.id}/apikey", **tenant.master_headers()).json()
    device = basic(key["id"], key["secret"])
    url = f"/v3/data/devices/{plug.id}/properties"
    feed = {
        "dps": [
            {"prop": "temperature", "v": 21.5},
            {"prop": "temperature", "v": 400},  # above the profile's max
            {"prop": "temperature", "v": "warm"},  # not a number
            {"prop": "mode", "v": "eco"},
            {"prop": "mode", "v": 3},
        ]
    }
    response = send(api, "post", url, feed, **device)
    assert response.status_code == 200, response.content
    assert receipt_counts(response.json()) == {"accepted": 2, "rejected": 3}
    stored = DataPoint.objects.filter(of=plug.id).order_by("channel")
    assert [(p.channel, p.data) for p in stored] == [("mode", "eco"), ("temperature", 21.5)]
    mode = stored[0]
    assert mode.expire_at is not None  # the profile's retention
    # The write path reads the device's rows only: the profile tables are not in its queries.
    with CaptureQueriesContext(connection) as queries:
        assert send(api, "post", url, {"dps": [{"prop": "temperature", "v": 1}]}, **device).status_code == 200
    tables = ("devices_deviceprofile", "devices_profileproperty")
    assert not [q for q in queries.captured_queries if any(t in q["sql"] for t in tables)]
    assert len(queries) > 3  # the write was captured


def test_changing_a_device_profile_keeps_what_the_old_one_gave_as_its_own(
    api: APIClient, tenant: Tenant
) -> None:
    first = make_profile(api, tenant, "First")
    declare(api, tenant, first["id"], "a", type="number")
    declare(api, tenant, first["id"], "shared", type="number")
    second = make_profile(api, tenant, "Second")
    declare(api, tenant, second["id"], "shared", type="string")
    declare(api, tenant, second["id"], "b", type="boolean")
    device = make_device(api, tenant, "d1", profile="first")
    changed = send(
        api, "put", f"/v3/devices/{device['id']}", {"profileId": "Second"}, **tenant.master_headers()
    )
    assert changed.status_code == 200 and changed.json()["profileId"] == second["id"]
    props = device_properties(api, tenant, device["id"])
    assert props["a"]["inherited"] is False  # kept, with its data, as the device's own
    assert props["shared"]["type"] == "string" and props["shared"]["inherited"] is True
    assert props["b"]["inherited"] is True
    # Now the first profile is free.
    assert api.delete("/v3/deviceprofiles/first", **tenant.master_headers()).status_code == 200
    cleared = send(api, "put", f"/v3/devices/{device['id']}", {"profileId": None}, **tenant.master_headers())
    assert cleared.json()["profileId"] is None
    assert not Property.objects.filter(plug_id=device["id"], inherited_from__isnull=False).exists()


def test_removing_the_account_removes_its_profiles_and_devices(api: APIClient, tenant: Tenant) -> None:
    make_profile(api, tenant, "Base")
    make_profile(api, tenant, "Derived", baseProfile="base")
    declare(api, tenant, "derived", "temperature", type="number")
    make_device(api, tenant, "d1", profile="derived")
    tenant.account.delete()  # a profile in use is refused to the API, not to the account's removal
    assert not DeviceProfile.objects.exists() and not Plug.objects.exists()
    assert not ProfileProperty.objects.exists() and not Property.objects.exists()


def test_a_device_stored_before_profiles_were_rows_still_reads_its_profile_id(
    api: APIClient, tenant: Tenant
) -> None:
    plug = tenant.plug("old", props={"_v3": {"profileId": "_dpf_legacy"}}).plug
    assert api.get(f"/v3/devices/{plug.id}", **tenant.master_headers()).json()["profileId"] == "_dpf_legacy"


# --- isolation and rights ----------------------------------------------------------------------


def test_another_account_profile_is_404_everywhere(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = make_profile(api, other_tenant, "Secret")
    declare(api, other_tenant, theirs["id"], "temperature")
    mine = tenant.master_headers()
    for ref in (theirs["id"], "Secret", "secret"):
        assert_v3_error(api.get(f"/v3/deviceprofiles/{ref}", **mine), 404)
        assert_v3_error(send(api, "put", f"/v3/deviceprofiles/{ref}", {"description": "x"}, **mine), 404)
        assert_v3_error(api.delete(f"/v3/deviceprofiles/{ref}", **mine), 404)
        assert_v3_error(send(api, "post", "/v3/devices", {"name": "d", "profile": ref}, **mine), 404)
        assert_v3_error(
            send(api, "post", "/v3/deviceprofiles", {"name": "p", "baseProfile": ref}, **mine), 404
        )
    assert_v3_error(api.get(f"/v3/properties?owner={theirs['id']}", **mine), 404)
    body = {"name": "x", "ownerId": theirs["id"]}
    assert_v3_error(send(api, "post", f"/v3/properties?owner={theirs['id']}", body, **mine), 404)
    assert_v3_error(api.get(f"/v3/accounts/{other_tenant.account.id}/deviceprofiles", **mine), 404)
    assert api.get("/v3/deviceprofiles", **mine).json()["total"] == 0
    assert not Plug.objects.filter(account=tenant.account).exists()
    assert DeviceProfile.objects.get(id=theirs["id"]).description == ""


def _client(tenant: Tenant, scope: list[str], context: str = "account", **where: Any) -> dict[str, str]:
    key, secret = apiclient_create(account=tenant.account, scope=scope, context_type=context, **where)
    return basic(key.id, secret)


def test_who_may_read_and_change_profiles(api: APIClient, tenant: Tenant) -> None:
    profile = make_profile(api, tenant, "Thermostat")
    thing = tenant.plug("thing")
    user_id, user_secret = tenant.user_key()
    credentials = {
        "master": tenant.master_headers(),
        "user key": basic(user_id, user_secret),
        "device": plug_headers(thing),
        "ac deviceprofile:read": _client(tenant, ["deviceprofile:read"]),
        "ac deviceprofile:modify": _client(tenant, ["deviceprofile:modify"]),
        "ac deviceprofile:modify, devices context": _client(
            tenant, ["deviceprofile:modify"], "devices", context_ids=[thing.plug.id]
        ),
        "ac device:modify": _client(tenant, ["device:modify"]),
        "ac *": _client(tenant, ["*"]),
    }
    got = {}
    for name, headers in credentials.items():
        read = api.get(f"/v3/deviceprofiles/{profile['id']}", **headers).status_code
        listed = api.get(f"/v3/properties?owner={profile['id']}", **headers).status_code
        body = {"name": f"p{len(got)}"}
        created = send(api, "post", "/v3/deviceprofiles", body, **headers).status_code
        declared = send(api, "post", f"/v3/properties?owner={profile['id']}", body, **headers).status_code
        got[name] = (read, listed, created, declared)
    assert got == {
        "master": (200, 200, 201, 201),
        "user key": (200, 200, 201, 201),
        "device": (403, 403, 403, 403),
        "ac deviceprofile:read": (200, 200, 403, 403),
        "ac deviceprofile:modify": (200, 200, 201, 201),
        "ac deviceprofile:modify, devices context": (200, 200, 403, 403),
        "ac device:modify": (403, 403, 403, 403),
        "ac *": (200, 200, 201, 201),
    }


# --- /v3/properties/{id} -----------------------------------------------------------------------


def test_a_property_by_id_a_device_or_a_profile_one(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    headers = tenant.master_headers()
    profile = make_profile(api, tenant, "Thermostat")
    declared = declare(
        api, tenant, profile["id"], "temperature", type="number", boundaries={"min": 0, "max": 50}
    )
    device = make_device(api, tenant, "lab", profile="thermostat")
    copy = device_properties(api, tenant, device["id"])["temperature"]
    assert api.get(f"/v3/properties/{declared['id']}", **headers).json() == declared
    assert api.get(f"/v3/properties/{copy['id']}", **headers).json() == copy
    # The SDK's update sends what it changes: PUT keeps what the body leaves out.
    changed = send(
        api, "put", f"/v3/properties/{declared['id']}", {"boundaries": {"min": 0, "max": 80}}, **headers
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["type"] == "number" and changed.json()["boundaries"] == {"min": 0, "max": 80}
    assert device_properties(api, tenant, device["id"])["temperature"]["boundaries"]["max"] == 80
    friendly = send(
        api, "put", f"/v3/properties/{declared['id']}", {"friendlyName": "T", "tags": []}, **headers
    )
    assert friendly.status_code == 200 and friendly.json()["boundaries"]["max"] == 80
    renamed = send(api, "put", f"/v3/properties/{declared['id']}", {"name": "other"}, **headers)
    assert_v3_error(renamed, 400)
    bad = send(api, "patch", f"/v3/properties/{declared['id']}", {"type": "string"}, **headers)
    assert_v3_error(bad, 400)  # a string property keeps no boundaries
    # A device's property by id: changing it makes it the device's own.
    own = send(api, "patch", f"/v3/properties/{copy['id']}", {"retention": "7d"}, **headers)
    assert own.status_code == 200 and own.json()["inherited"] is False
    # Another account's: 404, whichever the owner; a device key may read its own, not change it.
    for ref in (declared["id"], copy["id"], "_prp_" + "0" * 24, "temperature"):
        assert_v3_error(api.get(f"/v3/properties/{ref}", **other_tenant.master_headers()), 404)
        body = {"description": "x"}
        assert_v3_error(send(api, "put", f"/v3/properties/{ref}", body, **other_tenant.master_headers()), 404)
    key = api.get(f"/v3/devices/{device['id']}/apikey", **headers).json()
    as_device = basic(key["id"], key["secret"])
    assert api.get(f"/v3/properties/{copy['id']}", **as_device).status_code == 200
    assert_v3_error(api.get(f"/v3/properties/{declared['id']}", **as_device), 403)
    assert_v3_error(send(api, "put", f"/v3/properties/{copy['id']}", {"description": "x"}, **as_device), 403)
    assert_v3_error(
        send(api, "put", f"/v3/properties/{declared['id']}", {"description": "x"}, **as_device), 403
    )
    assert ProfileProperty.objects.get(id=declared["id"]).description == ""


def test_a_write_into_inherited_properties_costs_what_one_into_own_properties_does(
    api: APIClient, tenant: Tenant
) -> None:
    """The same feed into a device whose properties come from its profile and into one that
    defined them itself: the same statements, none of them reading a profile."""
    make_profile(api, tenant, "Meter")
    definition = {"type": "number", "boundaries": {"min": 0, "max": 1e6}}
    for name in ("p0", "p1", "p2"):
        declare(api, tenant, "meter", name, **definition)
    inherited = make_device(api, tenant, "inherited", profile="meter")
    own = make_device(api, tenant, "own")
    for name in ("p0", "p1", "p2"):
        declare(api, tenant, own["id"], name, **definition)
    shapes = {}
    for device in (inherited, own):
        key = api.get(f"/v3/devices/{device['id']}/apikey", **tenant.master_headers()).json()
        feed = {"dps": [{"prop": f"p{i % 3}", "v": i, "t": 1_700_000_000_000 + i} for i in range(30)]}
        url = f"/v3/data/devices/{device['id']}/properties"
        with CaptureQueriesContext(connection) as queries:
            response = send(api, "post", url, feed, **basic(key["id"], key["secret"]))
        assert response.json() == {"accepted": 30, "rejected": 0}
        # The statements, with their literals (ids, names, values, times) taken out.
        shapes[device["name"]] = [
            re.sub(r"\d+(\.\d+)?", "N", re.sub(r"'(?:[^']|'')*'", "?", q["sql"]))
            for q in queries.captured_queries
        ]
    assert shapes["inherited"] == shapes["own"]
