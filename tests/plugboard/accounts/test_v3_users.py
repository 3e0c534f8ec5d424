"""`/v3/users`: users with roles and their user keys (SPEC §6 "Fleets")."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.services.plugs import Enrolled
from plugboard.models import ApiKey, User
from plugboard.services import apiclient_create
from tests.conftest import Tenant, basic, plug_headers
from tests.devices.test_v3_profiles import assert_v3_error, send

# What conniosdk's UserInstance indexes without a default, then what it reads with one.
USER_KEYS = {"accountId", "id", "email", "status", "role", "dateCreated"}
USER_FIELDS = USER_KEYS | {
    "name",
    "description",
    "tags",
    "locale",
    "timezone",
    "prefs",
    "avatarUrl",
    "dateModified",
}
# What conniosdk's ApiKeyInstance indexes without a default.
KEY_KEYS = {
    "accountId",
    "id",
    "secret",
    "ownerId",
    "context",
    "scope",
    "rateLimit",
    "dateCreated",
    "dateModified",
}


def make_user(api: APIClient, tenant: Tenant, email: str, role: str, **fields: Any) -> dict[str, Any]:
    body = {"email": email, "role": role, **fields}
    response = send(api, "post", "/v3/users", body, **tenant.master_headers())
    assert response.status_code == 201, response.content
    return response.json()


def user_headers(made: dict[str, Any]) -> dict[str, str]:
    return basic(made["apiKey"]["id"], made["apiKey"]["secret"])


def test_create_returns_the_user_and_its_key_once(api: APIClient, tenant: Tenant) -> None:
    made = make_user(api, tenant, "Dev@Example.com", "developer", name="Dev")
    assert set(made) == USER_FIELDS | {"apiKey"}
    assert made["id"].startswith("_usr_") and made["accountId"] == tenant.account.id
    assert (made["email"], made["role"], made["status"], made["name"]) == (
        "dev@example.com",
        "developer",
        "active",
        "Dev",
    )
    assert made["avatarUrl"] is None and made["dateCreated"].endswith("Z")
    key = ApiKey.objects.get(id=made["apiKey"]["id"])
    assert key.kind == ApiKey.Kind.USER and key.user_id == made["id"]
    assert made["apiKey"]["secret"] not in (key.secret_digest, key.secret_encrypted)

    fetched = api.get(f"/v3/users/{made['id']}", **tenant.master_headers()).json()
    assert set(fetched) == USER_FIELDS and fetched["email"] == "dev@example.com"
    # The key is shown without its secret afterwards; regenerating shows the new one once.
    shown = api.get(f"/v3/accounts/_this_/users/{made['id']}/apikey", **tenant.master_headers()).json()
    assert set(shown) == KEY_KEYS and shown["secret"] is None and shown["ownerId"] == made["id"]
    assert shown["id"] == made["apiKey"]["id"]
    renewed = send(api, "post", f"/v3/users/{made['id']}/apikey", {}, **tenant.master_headers()).json()
    assert renewed["id"] == shown["id"] and len(renewed["secret"]) == 32
    assert api.get("/v3/devices", **user_headers(made)).status_code == 401
    assert api.get("/v3/devices", **basic(renewed["id"], renewed["secret"])).status_code == 200


def test_list_is_a_v3_page(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    make_user(api, tenant, "b@example.com", "viewer")
    make_user(api, tenant, "a@example.com", "admin")
    make_user(api, other_tenant, "c@example.com", "admin")
    page = api.get("/v3/users?pageSize=1", **tenant.master_headers()).json()
    assert {k: page[k] for k in ("total", "itemCount", "numOfPages", "pageNo", "skip")} == {
        "total": 2,
        "itemCount": 1,
        "numOfPages": 2,
        "pageNo": 1,
        "skip": 0,
    }
    both = api.get("/v3/accounts/_this_/users", **tenant.master_headers()).json()["results"]
    assert [u["email"] for u in both] == ["a@example.com", "b@example.com"]
    assert all(set(u) == USER_FIELDS for u in both)


def test_the_same_email_twice_is_409_ignoring_case(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    make_user(api, tenant, "dev@example.com", "developer")
    again = send(
        api, "post", "/v3/users", {"email": "DEV@example.com", "role": "viewer"}, **tenant.master_headers()
    )
    assert_v3_error(again, 409)
    # Another account may have a user of that email.
    make_user(api, other_tenant, "dev@example.com", "viewer")
    assert User.objects.filter(email="dev@example.com").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"role": "developer"},
        {"email": "x@example.com"},
        {"email": "not-an-email", "role": "viewer"},
        {"email": "x@example.com", "role": "owner"},
        {"email": "x@example.com", "role": "viewer", "password": "secret"},
        {"email": "x@example.com", "role": "viewer", "colour": "blue"},
        {"email": "x@example.com", "role": "viewer", "name": 5},
        {"email": ["x@example.com"], "role": "viewer"},
    ],
)
def test_bad_bodies_are_400_and_make_nothing(api: APIClient, tenant: Tenant, body: dict[str, Any]) -> None:
    assert_v3_error(send(api, "post", "/v3/users", body, **tenant.master_headers()), 400)
    assert not User.objects.exists() and not ApiKey.objects.filter(kind="user").exists()


def test_change_and_delete(api: APIClient, tenant: Tenant) -> None:
    made = make_user(api, tenant, "dev@example.com", "developer")
    url = f"/v3/users/{made['id']}"
    changed = send(api, "put", url, {"name": "Renamed", "role": "viewer"}, **tenant.master_headers())
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["role"]) == ("Renamed", "viewer")
    # A GET object sent back is accepted.
    echoed = send(api, "put", url, changed.json(), **tenant.master_headers())
    assert echoed.status_code == 200, echoed.content
    make_user(api, tenant, "taken@example.com", "viewer")
    assert_v3_error(send(api, "put", url, {"email": "TAKEN@example.com"}, **tenant.master_headers()), 409)
    assert_v3_error(send(api, "put", url, {"status": "gone"}, **tenant.master_headers()), 400)

    # A disabled user's key stops working; enabled again, it works.
    disabled = send(api, "put", url, {"status": "disabled"}, **tenant.master_headers()).json()
    assert disabled["status"] == "disabled"
    assert api.get("/v3/devices", **user_headers(made)).status_code == 401
    send(api, "put", url, {"status": "active"}, **tenant.master_headers())
    assert api.get("/v3/devices", **user_headers(made)).status_code == 200

    removed = api.delete(url, **tenant.master_headers())
    assert removed.status_code == 200 and removed.json() == {"nrOfItems": 1}
    assert not ApiKey.objects.filter(id=made["apiKey"]["id"]).exists()
    assert api.get("/v3/devices", **user_headers(made)).status_code == 401
    assert_v3_error(api.get(url, **tenant.master_headers()), 404)


def test_an_admin_user_key_is_the_account(api: APIClient, tenant: Tenant) -> None:
    admin = make_user(api, tenant, "admin@example.com", "admin")
    headers = user_headers(admin)
    assert send(api, "post", "/v3/devices", {"name": "boiler"}, **headers).status_code == 201
    made = send(api, "post", "/v3/users", {"email": "v@example.com", "role": "viewer"}, **headers)
    assert made.status_code == 201, made.content
    assert send(api, "post", "/v3/apiclients", {"context": {"type": "account"}}, **headers).status_code == 201
    assert send(api, "patch", "/v3/accounts/_this_", {"defaultRetention": "1d"}, **headers).status_code == 200


def test_a_developer_works_with_devices_but_manages_no_one(api: APIClient, tenant: Tenant) -> None:
    dev = user_headers(make_user(api, tenant, "dev@example.com", "developer"))
    created = send(api, "post", "/v3/devices", {"name": "boiler"}, **dev)
    assert created.status_code == 201, created.content
    assert send(api, "put", "/v3/devices/boiler", {"friendlyName": "Boiler"}, **dev).status_code == 200
    assert send(api, "post", "/v3/data/devices/boiler", {"temp": 21}, **dev).status_code == 200
    assert api.get("/v3/data/devices/boiler", **dev).status_code == 200
    assert send(api, "post", "/v3/deviceprofiles", {"name": "thermostat"}, **dev).status_code == 201
    for method, url, body in (
        ("get", "/v3/users", None),
        ("post", "/v3/users", {"email": "x@example.com", "role": "admin"}),
        ("get", "/v3/apiclients", None),
        ("post", "/v3/apiclients", {"context": {"type": "account"}}),
        ("patch", "/v3/accounts/_this_", {"defaultRetention": "1d"}),
        ("get", "/v3/accounts", None),
        ("post", "/v3/accounts", {"name": "sub", "user": {"email": "s@example.com"}}),
    ):
        assert_v3_error(send(api, method, url, body, **dev), 403)
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_viewer_reads_and_writes_nothing(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    viewer = user_headers(make_user(api, tenant, "v@example.com", "viewer"))
    assert api.get(f"/v3/devices/{thing.plug.id}", **viewer).status_code == 200
    assert api.get(f"/v3/data/devices/{thing.plug.id}", **viewer).status_code == 200
    assert api.get("/v3/deviceprofiles", **viewer).status_code == 200
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "boiler"}, **viewer), 403)
    assert_v3_error(send(api, "put", f"/v3/devices/{thing.plug.id}", {"friendlyName": "x"}, **viewer), 403)
    assert_v3_error(send(api, "post", "/v3/deviceprofiles", {"name": "p"}, **viewer), 403)
    assert_v3_error(api.delete(f"/v3/devices/{thing.plug.id}", **viewer), 403)
    assert_v3_error(api.get("/v3/users", **viewer), 403)


def test_a_new_role_applies_to_the_next_request(api: APIClient, tenant: Tenant) -> None:
    made = make_user(api, tenant, "v@example.com", "viewer")
    assert_v3_error(send(api, "post", "/v3/devices", {"name": "boiler"}, **user_headers(made)), 403)
    send(api, "put", f"/v3/users/{made['id']}", {"role": "developer"}, **tenant.master_headers())
    assert send(api, "post", "/v3/devices", {"name": "boiler"}, **user_headers(made)).status_code == 201


def test_users_are_the_accounts_alone(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    made = make_user(api, tenant, "dev@example.com", "developer")
    everything, secret = apiclient_create(account=tenant.account, scope=["*"])
    for headers in (plug_headers(thing), basic(everything.id, secret)):
        assert_v3_error(api.get("/v3/users", **headers), 403)
        assert_v3_error(api.get(f"/v3/users/{made['id']}", **headers), 403)
        assert_v3_error(send(api, "post", f"/v3/users/{made['id']}/apikey", {}, **headers), 403)
        assert_v3_error(api.delete(f"/v3/users/{made['id']}", **headers), 403)
    assert_v3_error(api.get("/v3/users"), 401)
    assert User.objects.filter(id=made["id"]).exists()


def test_another_accounts_user_is_404(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    made = make_user(api, tenant, "dev@example.com", "developer")
    intruder = other_tenant.master_headers()
    for method, url, body in (
        ("get", f"/v3/users/{made['id']}", None),
        ("put", f"/v3/users/{made['id']}", {"role": "admin"}),
        ("delete", f"/v3/users/{made['id']}", None),
        ("get", f"/v3/users/{made['id']}/apikey", None),
        ("post", f"/v3/users/{made['id']}/apikey", {}),
        ("get", f"/v3/accounts/{tenant.account.id}/users", None),
        ("post", f"/v3/accounts/{tenant.account.id}/users", {"email": "x@example.com", "role": "admin"}),
    ):
        assert_v3_error(send(api, method, url, body, **intruder), 404)
    assert User.objects.get(id=made["id"]).role == "developer"
    assert api.get("/v3/devices", **user_headers(made)).status_code == 200
