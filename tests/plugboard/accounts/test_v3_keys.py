"""Keys of the property dialect (SPEC §3, §6): a device's key read back and regenerated, and
API clients whose secret is shown once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.services.plugs import Enrolled
from plugboard.models import ApiKey
from tests.conftest import Tenant, basic, plug_headers

KEY_KEYS = {
    "id",
    "secret",
    "accountId",
    "ownerId",
    "context",
    "scope",
    "rateLimit",
    "dateCreated",
    "dateModified",
}


def send(api: APIClient, method: str, url: str, body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(api, method)(url, data=data, content_type="application/json", **headers)


def assert_v3_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body, list) and set(body[0]) == {"code", "cause", "message"}
    assert body[0]["code"] == status


# --- device keys -------------------------------------------------------------------------------


def test_the_account_reads_a_device_key_with_its_secret(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    response = api.get(f"/v3/devices/{thing.plug.id}/apikey", **tenant.master_headers())
    assert response.status_code == 200
    key = response.json()
    assert set(key) == KEY_KEYS
    assert key["id"] == thing.key.id and key["id"].startswith("_key_")
    assert key["secret"] == thing.auth
    assert key["accountId"] == tenant.account.id and key["ownerId"] == thing.plug.id
    assert key["context"] == {"type": "device", "ids": [thing.plug.id]}
    assert "device:write-data" in key["scope"] and key["rateLimit"] == 0
    # The device reads its own key too, by `_this_` or by name.
    assert api.get("/v3/devices/_this_/apikey", **plug_headers(thing)).json()["secret"] == thing.auth
    assert api.get("/v3/devices/thermostat/apikey", **plug_headers(thing)).json()["id"] == thing.key.id


def test_the_key_id_and_secret_work_as_basic_credentials(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    key = api.get(f"/v3/devices/{thing.plug.id}/apikey", **tenant.master_headers()).json()
    assert api.get("/v3/devices/_this_", **basic(key["id"], key["secret"])).status_code == 200


def test_regenerate_replaces_the_secret_at_once(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    old = plug_headers(thing)
    assert api.get("/v3/devices/_this_", **old).status_code == 200
    response = api.post(f"/v3/devices/{thing.plug.id}/apikey", **tenant.master_headers())
    assert response.status_code == 200
    key = response.json()
    assert key["id"] == thing.key.id and key["secret"] != thing.auth and len(key["secret"]) == 32
    assert_v3_error(api.get("/v3/devices/_this_", **old), 401)
    assert_v3_error(api.get("/v3/devices/_this_", **basic(thing.key.id, thing.auth)), 401)
    fresh = {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_AUTH": key["secret"]}
    assert api.get("/v3/devices/_this_", **fresh).status_code == 200
    # The new secret is the one read back from now on.
    assert api.get("/v3/devices/_this_/apikey", **fresh).json()["secret"] == key["secret"]


def test_only_the_account_regenerates(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    assert_v3_error(api.post("/v3/devices/_this_/apikey", **plug_headers(thing)), 403)
    client = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "account"}, "scope": ["*"]},
        **tenant.master_headers(),
    ).json()
    assert_v3_error(
        api.post(f"/v3/devices/{thing.plug.id}/apikey", **basic(client["id"], client["secret"])), 403
    )
    assert api.get("/v3/devices/_this_", **plug_headers(thing)).status_code == 200


def test_no_one_else_reads_a_device_key(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("sensor")
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}/apikey", **plug_headers(other)), 403)
    reader = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "account"}, "scope": ["device:read"]},
        **tenant.master_headers(),
    ).json()
    assert_v3_error(
        api.get(f"/v3/devices/{thing.plug.id}/apikey", **basic(reader["id"], reader["secret"])), 403
    )
    assert_v3_error(api.get(f"/v3/devices/{thing.plug.id}/apikey"), 401)


# --- API clients -------------------------------------------------------------------------------


def test_create_an_api_client_shows_its_secret_once(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    body = {
        "name": "ProvisioningClient",
        "friendlyName": "Provisioning Key",
        "description": "An API client for provisioning",
        "tags": ["provisioning"],
        "context": {"type": "account", "ids": [tenant.account.id]},
        "scope": ["device:read", "device:modify"],
        "rateLimit": 100,
    }
    response = send(api, "post", "/v3/apiclients", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    client = response.json()
    assert set(client) >= KEY_KEYS and client["name"] == "ProvisioningClient"
    assert client["id"].startswith("_key_") and len(client["secret"]) == 32
    assert client["context"] == {"type": "account", "ids": [tenant.account.id]}
    assert client["scope"] == ["device:read", "device:modify"] and client["rateLimit"] == 100
    stored = ApiKey.objects.get(id=client["id"])
    assert client["secret"] not in (stored.secret_digest, stored.secret_encrypted)
    # Later reads withhold it.
    page = api.get("/v3/apiclients", **tenant.master_headers()).json()
    assert page["total"] == 1 and page["results"][0]["id"] == client["id"]
    assert page["results"][0]["secret"] is None
    assert api.get(f"/v3/apiclients/{client['id']}", **tenant.master_headers()).json()["secret"] is None
    assert (
        api.get(f"/v3/apiclients/{client['id']}/apikey", **tenant.master_headers()).json()["secret"] is None
    )
    # The secret works, within the scope it was given.
    creds = basic(client["id"], client["secret"])
    assert api.get(f"/v3/devices/{thing.plug.id}", **creds).status_code == 200
    assert send(api, "post", "/v3/devices", {"name": "made-by-client"}, **creds).status_code == 201


def test_devices_and_app_contexts(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    app = tenant.plug("dashboard", kind="controller")
    devices = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "devices", "ids": ["thermostat"]}, "scope": ["device:read-data"]},
        **tenant.master_headers(),
    ).json()
    assert devices["context"] == {"type": "devices", "ids": [thing.plug.id]}
    app_client = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "app", "ids": [app.plug.id]}, "scope": ["device:read-data"]},
        **tenant.master_headers(),
    )
    assert app_client.status_code == 201
    assert app_client.json()["context"] == {"type": "app", "ids": [app.plug.id]}
    creds = basic(devices["id"], devices["secret"])
    assert [d["id"] for d in api.get("/v3/devices", **creds).json()["results"]] == [thing.plug.id]


def test_regenerate_and_revoke_an_api_client(api: APIClient, tenant: Tenant) -> None:
    client = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "account"}, "scope": ["device:read"]},
        **tenant.master_headers(),
    ).json()
    old = basic(client["id"], client["secret"])
    assert api.get("/v3/devices", **old).status_code == 200
    fresh = api.post(f"/v3/apiclients/{client['id']}/apikey", **tenant.master_headers()).json()
    assert fresh["id"] == client["id"] and fresh["secret"] != client["secret"]
    assert_v3_error(api.get("/v3/devices", **old), 401)
    new = basic(client["id"], fresh["secret"])
    assert api.get("/v3/devices", **new).status_code == 200
    assert api.delete(f"/v3/apiclients/{client['id']}", **tenant.master_headers()).json() == {"nrOfItems": 1}
    assert_v3_error(api.get("/v3/devices", **new), 401)
    assert_v3_error(api.get(f"/v3/apiclients/{client['id']}", **tenant.master_headers()), 404)


def test_a_user_key_manages_api_clients(api: APIClient, tenant: Tenant) -> None:
    key_id, secret = tenant.user_key()
    body = {"context": {"type": "account"}, "scope": ["device:read"]}
    assert send(api, "post", "/v3/apiclients", body, **basic(key_id, secret)).status_code == 201
    assert api.get("/v3/apiclients", **basic(key_id, secret)).json()["total"] == 1


def test_only_the_account_manages_api_clients(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    body = {"context": {"type": "account"}, "scope": ["*"]}
    assert_v3_error(send(api, "post", "/v3/apiclients", body, **plug_headers(thing)), 403)
    assert_v3_error(api.get("/v3/apiclients", **plug_headers(thing)), 403)
    client = send(api, "post", "/v3/apiclients", body, **tenant.master_headers()).json()
    creds = basic(client["id"], client["secret"])
    assert_v3_error(send(api, "post", "/v3/apiclients", body, **creds), 403)
    assert_v3_error(api.get("/v3/apiclients", **creds), 403)
    assert_v3_error(api.post(f"/v3/apiclients/{client['id']}/apikey", **creds), 403)
    assert_v3_error(api.delete(f"/v3/apiclients/{client['id']}", **creds), 403)
    assert_v3_error(send(api, "post", "/v3/apiclients", body), 401)
    assert ApiKey.objects.filter(kind=ApiKey.Kind.APICLIENT).count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"scope": ["device:read"]}, 400),  # no context
        ({"context": {"type": "account"}, "scope": []}, 400),  # an empty scope never means "all"
        ({"context": {"type": "account"}, "scope": None}, 400),
        ({"context": {"type": "account"}, "scope": ["device:fly"]}, 400),
        ({"context": {"type": "account"}, "scope": "device:read,x"}, 400),
        ({"context": {"type": "account"}, "scope": [1]}, 400),
        ({"context": {"type": "galaxy"}, "scope": ["*"]}, 400),
        ({"context": {"type": ["account"]}, "scope": ["*"]}, 400),
        ({"context": "account", "scope": ["*"]}, 400),
        ({"context": {"type": "devices", "ids": []}, "scope": ["*"]}, 400),
        ({"context": {"type": "devices", "ids": "thermostat"}, "scope": ["*"]}, 400),
        ({"context": {"type": "devices", "ids": ["ghost"]}, "scope": ["*"]}, 404),
        ({"context": {"type": "app", "ids": ["thermostat"]}, "scope": ["*"]}, 400),  # a thing, not an app
        ({"context": {"type": "app", "ids": []}, "scope": ["*"]}, 400),
        ({"context": {"type": "account", "ids": ["com-000000000000000000000000"]}, "scope": ["*"]}, 404),
        ({"context": {"type": "account"}, "scope": ["*"], "rateLimit": -1}, 400),
        ({"context": {"type": "account"}, "scope": ["*"], "rateLimit": "fast"}, 400),
        ({"context": {"type": "account"}, "scope": ["*"], "owner": "me"}, 400),
        ({"context": {"type": "account"}, "scope": ["*"], "name": 3}, 400),
    ],
)
def test_api_client_bad_input(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any], status: int
) -> None:
    assert_v3_error(send(api, "post", "/v3/apiclients", body, **tenant.master_headers()), status)
    assert not ApiKey.objects.filter(kind=ApiKey.Kind.APICLIENT).exists()


def test_an_api_client_without_a_scope_gets_the_stated_default(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    """Least privilege: no `scope` is read and write data, written down and shown; never "all"."""
    response = send(
        api, "post", "/v3/apiclients", {"context": {"type": "account"}}, **tenant.master_headers()
    )
    assert response.status_code == 201, response.content
    client = response.json()
    assert client["scope"] == ["device:read-data", "device:write-data"]
    assert ApiKey.objects.get(id=client["id"]).scope == ["device:read-data", "device:write-data"]
    assert (
        api.get(f"/v3/apiclients/{client['id']}", **tenant.master_headers()).json()["scope"]
        == client["scope"]
    )
    creds = basic(client["id"], client["secret"])
    assert api.get(f"/v3/data/devices/{thing.plug.id}", **creds).status_code == 200
    # Management is not in it.
    assert_v3_error(send(api, "put", f"/v3/devices/{thing.plug.id}", {"description": "x"}, **creds), 403)
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "made-by-client"}, **creds), 403)


def test_another_accounts_devices_and_clients_are_404(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    body = {"context": {"type": "devices", "ids": [thing.plug.id]}, "scope": ["device:read-data"]}
    assert_v3_error(send(api, "post", "/v3/apiclients", body, **other_tenant.master_headers()), 404)
    client = send(
        api,
        "post",
        "/v3/apiclients",
        {"context": {"type": "account"}, "scope": ["*"]},
        **tenant.master_headers(),
    ).json()
    for method in ("get", "delete"):
        assert_v3_error(
            getattr(api, method)(f"/v3/apiclients/{client['id']}", **other_tenant.master_headers()), 404
        )
    assert_v3_error(api.post(f"/v3/apiclients/{client['id']}/apikey", **other_tenant.master_headers()), 404)
    assert api.get("/v3/apiclients", **other_tenant.master_headers()).json()["total"] == 0
    # The device key of a plug is not an API client.
    assert_v3_error(api.get(f"/v3/apiclients/{thing.key.id}", **tenant.master_headers()), 404)


def test_malformed_body_is_400(api: APIClient, tenant: Tenant) -> None:
    response = api.post(
        "/v3/apiclients", data="{scope:", content_type="application/json", **tenant.master_headers()
    )
    assert_v3_error(response, 400)
    assert_v3_error(api.post("/v3/apiclients", **tenant.master_headers()), 400)


# --- changing an API client (PUT /v3/apiclients/{id}) ------------------------------------------


def _reader(api: APIClient, tenant: Tenant) -> dict[str, Any]:
    body = {"name": "dash", "context": {"type": "account"}, "scope": ["device:read-data"]}
    client: dict[str, Any] = send(api, "post", "/v3/apiclients", body, **tenant.master_headers()).json()
    return client


def test_change_an_api_client_keeps_its_secret(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    client = _reader(api, tenant)
    body = {
        "friendlyName": "Dashboard",
        "description": "the wall screen",
        "tags": ["ops", "ops"],
        "scope": "device:read",
        "context": {"type": "devices", "ids": [thing.plug.id]},
        "rateLimit": 600,
    }
    for prefix in ("/v3", f"/v3/accounts/{tenant.account.id}"):
        response = send(api, "put", f"{prefix}/apiclients/{client['id']}", body, **tenant.master_headers())
        assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["secret"] is None and changed["name"] == "dash" and changed["friendlyName"] == "Dashboard"
    assert changed["description"] == "the wall screen" and changed["tags"] == ["ops"]
    assert changed["scope"] == ["device:read"] and changed["rateLimit"] == 600
    assert changed["context"] == {"type": "devices", "ids": [thing.plug.id]}
    assert api.get(f"/v3/apiclients/{client['id']}", **tenant.master_headers()).json() == changed
    # The secret still works, now with what the client was changed to.
    creds = basic(client["id"], client["secret"])
    assert [d["id"] for d in api.get("/v3/devices", **creds).json()["results"]] == [thing.plug.id]
    # A GET's answer sent back unchanged is accepted (its read-only fields are ignored).
    assert (
        send(api, "put", f"/v3/apiclients/{client['id']}", changed, **tenant.master_headers()).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"scope": ["device:fly"]}, 400),  # an unknown scope
        ({"scope": []}, 400),
        ({"scope": [1]}, 400),
        ({"rateLimit": "fast"}, 400),
        ({"rateLimit": True}, 400),
        ({"rateLimit": -1}, 400),
        ({"name": 3}, 400),
        ({"tags": "ops"}, 400),
        ({"context": "account"}, 400),
        ({"context": {"type": "devices", "ids": []}}, 400),
        ({"context": {"type": "devices", "ids": ["ghost"]}}, 404),
        ({"owner": "me"}, 400),
    ],
)
def test_change_an_api_client_bad_input(
    api: APIClient, tenant: Tenant, body: dict[str, Any], status: int
) -> None:
    client = _reader(api, tenant)
    assert_v3_error(
        send(api, "put", f"/v3/apiclients/{client['id']}", body, **tenant.master_headers()), status
    )
    assert api.get(f"/v3/apiclients/{client['id']}", **tenant.master_headers()).json() == client | {
        "secret": None
    }


def test_only_the_account_changes_its_api_clients(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    client = _reader(api, tenant)
    body = {"scope": ["*"]}
    url = f"/v3/apiclients/{client['id']}"
    assert_v3_error(send(api, "put", url, body, **basic(client["id"], client["secret"])), 403)
    assert_v3_error(send(api, "put", url, body, **plug_headers(thing)), 403)
    assert_v3_error(send(api, "put", url, body, **other_tenant.master_headers()), 404)
    assert_v3_error(send(api, "put", f"/v3/apiclients/{thing.key.id}", body, **tenant.master_headers()), 404)
    assert ApiKey.objects.get(id=client["id"]).scope == ["device:read-data"]
