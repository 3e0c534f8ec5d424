"""Apps and app profiles (SPEC §6 "Fleets"): `/v3/appprofiles`, `/v3/apps`, an app's data under
`/v3/data/apps/{ref}`, and what an app key may do — the fields the Connio SDK reads."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from devices.models import Plug
from plugboard.services import apiclient_create
from tests.conftest import Tenant, basic, receipt_counts
from tests.devices.test_v3_profiles import assert_v3_error, declare, make_device, send

# What conniosdk's AppInstance / AppProfileInstance index without a default.
APP_KEYS = {"accountId", "id", "name", "friendlyName", "profileId", "locked", "dateCreated", "dateModified"}
APP_PROFILE_KEYS = {
    "accountId",
    "id",
    "name",
    "friendlyName",
    "system",
    "locked",
    "dateCreated",
    "dateModified",
}


def make_app_profile(api: APIClient, tenant: Tenant, name: str, **fields: Any) -> dict[str, Any]:
    response = send(api, "post", "/v3/appprofiles", {"name": name, **fields}, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def make_app(api: APIClient, tenant: Tenant, name: str, profile: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if profile:
        body["profile"] = profile
    response = send(api, "post", "/v3/apps", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def test_app_profile_crud_with_connio_fields(api: APIClient, tenant: Tenant) -> None:
    made = make_app_profile(api, tenant, "Building", version="1.2", vendorName="Acme")
    assert made["id"].startswith("_apf_") and set(made) >= APP_PROFILE_KEYS
    assert (made["version"], made["vendorName"], made["system"]) == ("1.2", "Acme", False)
    derived = make_app_profile(api, tenant, "Tower", baseProfile="building")
    assert derived["baseProfileId"] == made["id"]

    listed = api.get("/v3/appprofiles", **tenant.master_headers()).json()
    assert {p["name"] for p in listed["results"]} == {"Building", "Tower"}
    # The two kinds do not mix: an app profile is no device profile.
    assert api.get("/v3/deviceprofiles", **tenant.master_headers()).json()["total"] == 0
    assert_v3_error(api.get(f"/v3/deviceprofiles/{made['id']}", **tenant.master_headers()), 404)

    changed = send(
        api,
        "put",
        "/v3/appprofiles/BUILDING",
        {"imageUrl": "https://example.com/b.png"},
        **tenant.master_headers(),
    )
    assert changed.status_code == 200 and changed.json()["imageUrl"] == "https://example.com/b.png"
    bad_url = send(api, "put", "/v3/appprofiles/building", {"imageUrl": "ftp://x"}, **tenant.master_headers())
    assert_v3_error(bad_url, 400)
    # Circular base: refused.
    assert_v3_error(
        send(api, "put", "/v3/appprofiles/building", {"baseProfile": "tower"}, **tenant.master_headers()), 400
    )
    # A device profile cannot be an app profile's base.
    send(api, "post", "/v3/deviceprofiles", {"name": "thermo"}, **tenant.master_headers())
    assert_v3_error(
        send(api, "put", "/v3/appprofiles/tower", {"baseProfile": "thermo"}, **tenant.master_headers()), 404
    )


def test_app_from_profile_inherits_properties_and_takes_data(api: APIClient, tenant: Tenant) -> None:
    profile = make_app_profile(api, tenant, "building")
    declare(api, tenant, profile["id"], "setpoint", type="number", boundaries={"min": 5, "max": 30})
    app = make_app(api, tenant, "hvac", profile="Building")
    assert set(app) >= APP_KEYS and app["profileId"] == profile["id"] and app["devices"] == []
    assert Plug.objects.get(id=app["id"]).kind == Plug.Kind.CONTROLLER

    props = api.get(f"/v3/properties?owner={app['id']}", **tenant.master_headers()).json()["results"]
    assert [(p["name"], p["inherited"]) for p in props] == [("setpoint", True)]

    # Its data, under /v3/data/apps/, written with its own key: the profile's boundaries apply.
    key = api.get(f"/v3/apps/{app['id']}/apikey", **tenant.master_headers()).json()
    as_app = basic(key["id"], key["secret"])
    wrote = send(api, "post", "/v3/data/apps/_this_", {"setpoint": 21}, **as_app)
    assert wrote.status_code == 200 and wrote.json() == {"accepted": 1, "rejected": 0}
    out = send(api, "post", f"/v3/data/apps/{app['id']}", {"setpoint": 99}, **as_app)
    assert receipt_counts(out.json()) == {"accepted": 0, "rejected": 1}
    assert api.get(f"/v3/data/apps/{app['id']}", **tenant.master_headers()).json()["setpoint"] == 21

    # A device is made from a device profile only, an app from an app profile only.
    assert_v3_error(
        send(api, "post", "/v3/devices", {"name": "d1", "profile": "building"}, **tenant.master_headers()),
        404,
    )
    assert_v3_error(
        send(api, "post", "/v3/apps", {"name": "a2", "profile": "nope"}, **tenant.master_headers()), 404
    )

    # A device names its app; the app lists the device.
    device = make_device(api, tenant, "fan")
    send(api, "put", f"/v3/devices/{device['id']}", {"apps": ["hvac"]}, **tenant.master_headers())
    assert api.get("/v3/apps/HVAC", **tenant.master_headers()).json()["devices"] == [device["id"]]

    # The profile is in use: not deleted.
    assert_v3_error(api.delete("/v3/appprofiles/building", **tenant.master_headers()), 409)
    renamed = send(api, "put", "/v3/apps/hvac", {"friendlyName": "HVAC"}, **tenant.master_headers())
    assert renamed.json()["friendlyName"] == "HVAC"
    assert api.delete("/v3/apps/hvac", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert api.delete("/v3/appprofiles/building", **tenant.master_headers()).json() == {"nrOfItems": 1}


def test_apps_and_devices_are_apart(api: APIClient, tenant: Tenant) -> None:
    device = make_device(api, tenant, "sensor")
    app = make_app(api, tenant, "ctl")
    assert_v3_error(api.get(f"/v3/apps/{device['id']}", **tenant.master_headers()), 404)
    assert_v3_error(api.delete("/v3/apps/sensor", **tenant.master_headers()), 404)
    assert [a["id"] for a in api.get("/v3/apps", **tenant.master_headers()).json()["results"]] == [app["id"]]


def test_app_scopes_and_other_accounts(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    make_app_profile(api, tenant, "building")
    app = make_app(api, tenant, "ctl", profile="building")
    devices_only, secret = apiclient_create(
        account=tenant.account.id, scope=["device:modify", "deviceprofile:modify"]
    )
    as_devices = basic(devices_only.id, secret)
    assert_v3_error(api.get("/v3/appprofiles", **as_devices), 403)
    assert_v3_error(send(api, "post", "/v3/apps", {"name": "x"}, **as_devices), 403)
    assert api.get("/v3/apps", **as_devices).json()["total"] == 0

    apps_key, secret = apiclient_create(account=tenant.account.id, scope=["app:modify", "appprofile:read"])
    as_apps = basic(apps_key.id, secret)
    assert api.get("/v3/appprofiles", **as_apps).json()["total"] == 1
    assert_v3_error(send(api, "post", "/v3/appprofiles", {"name": "p2"}, **as_apps), 403)
    assert (
        send(api, "post", "/v3/apps", {"name": "ctl2", "profile": "building"}, **as_apps).status_code == 201
    )
    assert api.get("/v3/apps", **as_apps).json()["total"] == 2

    # Another account: its app and app profile are 404s, in paths and in bodies.
    other = other_tenant.master_headers()
    assert_v3_error(api.get(f"/v3/apps/{app['id']}", **other), 404)
    assert_v3_error(api.get(f"/v3/appprofiles/{app['profileId']}", **other), 404)
    assert_v3_error(send(api, "post", "/v3/apps", {"name": "z", "profile": app["profileId"]}, **other), 404)
    assert_v3_error(api.get(f"/v3/properties?owner={app['profileId']}", **other), 404)


def test_connio_property_fields_are_kept_and_inherited(api: APIClient, tenant: Tenant) -> None:
    """friendlyName, tags and measurement are kept; dataType/accessType/publishType are read."""
    profile = send(api, "post", "/v3/deviceprofiles", {"name": "thermo"}, **tenant.master_headers()).json()
    body = {
        "name": "temperature",
        "ownerId": profile["id"],
        "dataType": "number",
        "accessType": "public",
        "publishType": "changed",
        "friendlyName": "Room temperature",
        "tags": ["climate"],
        "measurement": {"type": "temperature", "unit": {"label": "celsius", "symbol": "°C"}},
    }
    declared = send(api, "post", "/v3/properties", body, **tenant.master_headers()).json()
    assert (declared["type"], declared["access"], declared["publish"]) == ("number", "public", "changed")
    assert declared["friendlyName"] == "Room temperature" and declared["tags"] == ["climate"]
    assert declared["measurement"]["unit"]["symbol"] == "°C"
    device = make_device(api, tenant, "room", profile="thermo")
    inherited = api.get(
        f"/v3/devices/{device['id']}/properties/temperature", **tenant.master_headers()
    ).json()
    assert inherited["inherited"] and inherited["friendlyName"] == "Room temperature"
    assert inherited["measurement"] == declared["measurement"]

    # A change on the profile reaches the device's inherited row; a bad measurement is a 400.
    changed = send(
        api,
        "put",
        f"/v3/properties/{declared['id']}",
        {"tags": ["climate", "hvac"]},
        **tenant.master_headers(),
    )
    assert changed.json()["tags"] == ["climate", "hvac"]
    again = api.get(f"/v3/devices/{device['id']}/properties/temperature", **tenant.master_headers()).json()
    assert again["tags"] == ["climate", "hvac"]
    bad = send(
        api,
        "put",
        f"/v3/properties/{declared['id']}",
        {"measurement": {"unit": 5}},
        **tenant.master_headers(),
    )
    assert_v3_error(bad, 400)
    assert_v3_error(
        send(api, "put", f"/v3/properties/{declared['id']}", {"tags": "x"}, **tenant.master_headers()), 400
    )


def test_property_delete_by_id(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    """DELETE /v3/properties/{id}: a profile's declaration (its devices keep their rows as their
    own), a device's own property (an inherited row is the profile's: 409; with the profile
    declaring the name, the device inherits it again)."""
    base = send(api, "post", "/v3/deviceprofiles", {"name": "base"}, **tenant.master_headers()).json()
    thermo = send(
        api,
        "post",
        "/v3/deviceprofiles",
        {"name": "thermo", "baseProfile": "base"},
        **tenant.master_headers(),
    ).json()
    in_base = declare(api, tenant, base["id"], "temperature", type="number")
    near = declare(api, tenant, thermo["id"], "temperature", type="number", boundaries={"min": 0, "max": 50})
    kept = declare(api, tenant, thermo["id"], "humidity", type="number")
    device = make_device(api, tenant, "room", profile="thermo")

    def row(name: str) -> dict[str, Any]:
        return api.get(f"/v3/devices/{device['id']}/properties/{name}", **tenant.master_headers()).json()

    inherited = row("temperature")
    assert inherited["boundaries"] == {"min": 0.0, "max": 50.0}
    assert_v3_error(api.delete(f"/v3/properties/{inherited['id']}", **tenant.master_headers()), 409)
    assert_v3_error(api.delete(f"/v3/properties/{near['id']}", **other_tenant.master_headers()), 404)

    # The nearer declaration goes: the base profile's takes over.
    assert api.delete(f"/v3/properties/{near['id']}", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert row("temperature")["inherited"] and "boundaries" not in row("temperature")
    # The only declaration goes: the device keeps its row as its own.
    assert api.delete(f"/v3/properties/{kept['id']}", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert row("humidity")["inherited"] is False
    # A device's own property goes; one the profile declares comes back inherited.
    own = row("humidity")
    assert api.delete(f"/v3/properties/{own['id']}", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert_v3_error(
        api.get(f"/v3/devices/{device['id']}/properties/humidity", **tenant.master_headers()), 404
    )
    override = send(
        api,
        "put",
        f"/v3/devices/{device['id']}/properties/temperature",
        {"description": "mine"},
        **tenant.master_headers(),
    ).json()
    assert override["inherited"] is False
    api.delete(f"/v3/properties/{override['id']}", **tenant.master_headers())
    back = row("temperature")
    assert back["inherited"] and back["description"] == "" and back["id"] != override["id"]
    assert in_base["id"] != back["id"]
