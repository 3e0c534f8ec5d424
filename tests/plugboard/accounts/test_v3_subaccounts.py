"""`/v3/accounts`: sub-accounts, managed by their parent, isolated from their siblings (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from data.models import DataPoint, JournalEntry
from devices.models import DeviceProfile, Plug
from plugboard.models import Account, ApiKey, User
from plugboard.services import apiclient_create
from tests.conftest import Tenant, basic
from tests.devices.test_v3_profiles import assert_v3_error, send
from tests.plugboard.accounts.test_v3_account import ACCOUNT_KEYS

# What conniosdk's AccountInstance indexes without a default.
SDK_ACCOUNT_KEYS = {"id", "name", "status", "plan", "locked", "dateCreated"}


def make_sub(
    api: APIClient, headers: dict[str, str], name: str, email: str, prefix: str = "/v3", **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "user": {"email": email, "role": "admin", "name": name.title()}, **fields}
    response = send(api, "post", f"{prefix}/accounts", body, **headers)
    assert response.status_code == 201, response.content
    return response.json()


def key_headers(made: dict[str, Any]) -> dict[str, str]:
    return basic(made["apiKey"]["id"], made["apiKey"]["secret"])


@pytest.fixture
def sub(api: APIClient, tenant: Tenant) -> dict[str, Any]:
    return make_sub(api, tenant.master_headers(), "acme-eu", "eu@acme.example", friendlyName="Acme EU")


@pytest.fixture
def sibling(api: APIClient, tenant: Tenant) -> dict[str, Any]:
    return make_sub(api, tenant.master_headers(), "acme-us", "us@acme.example")


def test_create_returns_the_account_its_administrator_and_key(
    api: APIClient, tenant: Tenant, sub: dict[str, Any]
) -> None:
    assert set(sub) == ACCOUNT_KEYS | {"user", "apiKey"} and set(sub) >= SDK_ACCOUNT_KEYS
    assert sub["id"].startswith("com-") and sub["ownerId"] == tenant.account.id
    assert (sub["name"], sub["friendlyName"], sub["email"], sub["status"]) == (
        "acme-eu",
        "Acme EU",
        "eu@acme.example",
        "active",
    )
    assert (sub["plan"], sub["locked"], sub["tags"], sub["description"]) == (None, False, [], "")
    assert sub["user"]["role"] == "admin" and sub["user"]["accountId"] == sub["id"]
    account = Account.objects.get(id=sub["id"])
    assert account.parent_id == tenant.account.id
    user = User.objects.get(account=account)
    assert user.email == "eu@acme.example" and ApiKey.objects.get(id=sub["apiKey"]["id"]).user == user
    # The administrator's key is the sub-account.
    this = api.get("/v3/accounts/_this_", **key_headers(sub)).json()
    assert this["id"] == sub["id"] and this["ownerId"] == tenant.account.id
    # No master password signs in to it.
    assert not account.check_password("") and not account.check_password(account.password)
    assert api.get("/v3/devices", **basic("eu@acme.example", "")).status_code == 401


def test_a_name_alone_makes_a_sub_account_its_parent_manages(api: APIClient, tenant: Tenant) -> None:
    # SPEC §6: the administrator user is optional (the Connio SDK's `accounts.create(name=…)`).
    for body in ({"name": "acme-asia"}, {"name": "acme-africa", "user": None}):
        response = send(api, "post", "/v3/accounts", body, **tenant.master_headers())
        assert response.status_code == 201, response.content
        made = response.json()
        assert set(made) == ACCOUNT_KEYS | {"user", "apiKey"}
        assert (made["name"], made["email"], made["user"], made["apiKey"]) == (body["name"], None, None, None)
        assert made["ownerId"] == tenant.account.id
        assert not User.objects.filter(account_id=made["id"]).exists()
        # Its parent provisions it: a device, then an administrator added later.
        device = send(
            api, "post", f"/v3/accounts/{made['id']}/devices", {"name": "pump"}, **tenant.master_headers()
        )
        assert device.status_code == 201, device.content
        assert Plug.objects.get(id=device.json()["id"]).account_id == made["id"]
        admin = send(
            api,
            "post",
            f"/v3/accounts/{made['id']}/users",
            {"email": f"{body['name']}@acme.example", "role": "admin"},
            **tenant.master_headers(),
        )
        assert admin.status_code == 201, admin.content
    listed = api.get("/v3/accounts", **tenant.master_headers()).json()["results"]
    assert sorted(a["name"] for a in listed) == ["acme-africa", "acme-asia"]


def test_create_with_tags_description_retention(api: APIClient, tenant: Tenant) -> None:
    made = make_sub(
        api,
        tenant.master_headers(),
        "acme-eu",
        "eu@acme.example",
        tags=["eu", "eu"],
        description="Europe",
        defaultRetention="30d",
        plan=None,
        owner="_this_",
    )
    assert (made["tags"], made["description"], made["defaultRetention"]["seconds"]) == (
        ["eu"],
        "Europe",
        2592000,
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "user": {}}, 400),
        ({"name": "x", "user": {"role": "admin"}}, 400),
        ({"name": "x", "user": "x@example.com"}, 400),
        ({"name": "x", "user": {"email": "not-an-email"}}, 400),
        ({"name": "x", "user": {"email": "x@example.com", "role": "developer"}}, 400),
        ({"name": "x", "user": {"email": "x@example.com", "phone": "1"}}, 400),
        ({"user": {"email": "x@example.com"}}, 400),
        ({"name": "x", "user": {"email": "x@example.com"}, "plan": {"type": "trial"}}, 400),
        ({"name": "x", "user": {"email": "x@example.com"}, "colour": "blue"}, 400),
        ({"name": "x", "user": {"email": "x@example.com"}, "tags": "eu"}, 400),
        ({"name": "x", "user": {"email": "x@example.com"}, "owner": "com-000000000000000000000000"}, 404),
        ({"name": "x", "user": {"email": "OWNER@example.com"}}, 409),
    ],
)
def test_bad_bodies_make_nothing(api: APIClient, tenant: Tenant, body: dict[str, Any], status: int) -> None:
    assert_v3_error(send(api, "post", "/v3/accounts", body, **tenant.master_headers()), status)
    assert Account.objects.count() == 1 and not User.objects.exists()


def test_a_taken_email_is_409(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, sub: dict[str, Any]
) -> None:
    # Another tenant's email and one of the caller's own tree get the same answer, which says
    # neither that the email exists nor where (issue 24: no email's existence revealed).
    answers = []
    for email in ("intruder@example.com", "EU@acme.example"):
        body = {"name": "again", "user": {"email": email}}
        response = send(api, "post", "/v3/accounts", body, **tenant.master_headers())
        assert_v3_error(response, 409)
        answers.append(response.json())
    assert answers[0] == answers[1]
    assert "intruder" not in str(answers[0]) and "exist" not in str(answers[0])
    assert Account.objects.count() == 3


def test_list_shows_the_direct_sub_accounts(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, sub: dict[str, Any], sibling: dict[str, Any]
) -> None:
    grandchild = make_sub(
        api, tenant.master_headers(), "eu-north", "north@acme.example", f"/v3/accounts/{sub['id']}"
    )
    make_sub(api, other_tenant.master_headers(), "elsewhere", "else@example.com")
    page = api.get("/v3/accounts", **tenant.master_headers()).json()
    assert {k: page[k] for k in ("total", "itemCount", "numOfPages", "pageNo", "skip")} == {
        "total": 2,
        "itemCount": 2,
        "numOfPages": 1,
        "pageNo": 1,
        "skip": 0,
    }
    assert [a["id"] for a in page["results"]] == [sub["id"], sibling["id"]]
    assert all(set(a) == ACCOUNT_KEYS for a in page["results"])
    assert api.get("/v3/accounts/", **tenant.master_headers()).json()["total"] == 2
    under_sub = api.get(f"/v3/accounts/{sub['id']}/accounts", **tenant.master_headers()).json()
    assert [a["id"] for a in under_sub["results"]] == [grandchild["id"]]
    assert [a["id"] for a in api.get("/v3/accounts", **key_headers(sub)).json()["results"]] == [
        grandchild["id"]
    ]
    assert api.get("/v3/accounts", **key_headers(sibling)).json()["total"] == 0


def test_the_parent_acts_in_its_sub_account(api: APIClient, tenant: Tenant, sub: dict[str, Any]) -> None:
    parent, prefix = tenant.master_headers(), f"/v3/accounts/{sub['id']}"
    created = send(api, "post", f"{prefix}/devices", {"name": "boiler"}, **parent)
    assert created.status_code == 201, created.content
    device = created.json()
    assert device["accountId"] == sub["id"] and Plug.objects.get(id=device["id"]).account_id == sub["id"]
    assert send(api, "post", f"{prefix}/data/devices/boiler", {"temp": 21}, **parent).status_code == 200
    assert api.get(f"{prefix}/data/devices/boiler", **parent).status_code == 200
    users = api.get(f"{prefix}/users", **parent).json()
    assert [u["email"] for u in users["results"]] == ["eu@acme.example"]
    # The sub-account's own key sees what the parent made; the parent's own account does not.
    assert api.get("/v3/devices/boiler", **key_headers(sub)).json()["id"] == device["id"]
    assert api.get("/v3/devices", **parent).json()["total"] == 0
    # A parent's user key of role admin acts there too; its developer key does not.
    admin = send(api, "post", "/v3/users", {"email": "a@example.com", "role": "admin"}, **parent).json()
    assert api.get(f"{prefix}/devices", **key_headers(admin)).json()["total"] == 1
    dev = send(api, "post", "/v3/users", {"email": "d@example.com", "role": "developer"}, **parent).json()
    assert_v3_error(api.get(f"{prefix}/devices", **key_headers(dev)), 404)


def test_a_grandparent_acts_in_a_sub_sub_account(api: APIClient, tenant: Tenant, sub: dict[str, Any]) -> None:
    grandchild = make_sub(api, key_headers(sub), "eu-north", "north@acme.example")
    assert grandchild["ownerId"] == sub["id"]
    prefix = f"/v3/accounts/{grandchild['id']}"
    assert (
        send(api, "post", f"{prefix}/devices", {"name": "pump"}, **tenant.master_headers()).status_code == 201
    )
    assert api.get(prefix, **tenant.master_headers()).json()["id"] == grandchild["id"]
    assert Plug.objects.get(name="pump").account_id == grandchild["id"]
    # Up the tree there is nothing: a sub-account cannot act in its parent.
    assert_v3_error(api.get(f"/v3/accounts/{tenant.account.id}/devices", **key_headers(sub)), 404)
    assert_v3_error(api.get(f"/v3/accounts/{tenant.account.id}", **key_headers(grandchild)), 404)


def test_the_parent_reads_changes_and_suspends_it(
    api: APIClient, tenant: Tenant, sub: dict[str, Any]
) -> None:
    url = f"/v3/accounts/{sub['id']}"
    fetched = api.get(url, **tenant.master_headers()).json()
    assert set(fetched) == ACCOUNT_KEYS and fetched["friendlyName"] == "Acme EU"
    changed = send(
        api,
        "put",
        url,
        {"friendlyName": "Acme Europe", "description": "EU", "tags": ["eu"]},
        **tenant.master_headers(),
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["friendlyName"], changed.json()["description"], changed.json()["tags"]) == (
        "Acme Europe",
        "EU",
        ["eu"],
    )
    # A GET object sent back is accepted.
    assert send(api, "put", url, changed.json(), **tenant.master_headers()).status_code == 200
    assert_v3_error(send(api, "patch", url, {"status": "closed"}, **tenant.master_headers()), 400)
    # The sub-account changes its own names, not its status.
    own = send(api, "patch", "/v3/accounts/_this_", {"friendlyName": "Mine"}, **key_headers(sub))
    assert own.status_code == 200 and own.json()["friendlyName"] == "Mine"
    assert_v3_error(
        send(api, "patch", "/v3/accounts/_this_", {"status": "suspended"}, **key_headers(sub)), 403
    )

    suspended = send(api, "patch", url, {"status": "suspended"}, **tenant.master_headers())
    assert suspended.json()["status"] == "suspended" and not Account.objects.get(id=sub["id"]).is_active
    assert api.get("/v3/accounts/_this_", **key_headers(sub)).status_code == 401
    assert api.get(url, **tenant.master_headers()).json()["status"] == "suspended"
    send(api, "patch", url, {"status": "active"}, **tenant.master_headers())
    assert api.get("/v3/accounts/_this_", **key_headers(sub)).status_code == 200


def test_the_parent_deletes_it_with_everything(api: APIClient, tenant: Tenant, sub: dict[str, Any]) -> None:
    parent, prefix = tenant.master_headers(), f"/v3/accounts/{sub['id']}"
    send(api, "post", f"{prefix}/deviceprofiles", {"name": "thermostat"}, **parent)
    assert (
        send(
            api, "post", f"{prefix}/devices", {"name": "boiler", "profile": "thermostat"}, **parent
        ).status_code
        == 201
    )
    grandchild = make_sub(api, parent, "eu-north", "north@acme.example", prefix)
    own = tenant.plug("own-thing")
    # Data of the sub-account (a point and its journal entry) and of the parent.
    key = api.get(f"{prefix}/devices/boiler/apikey", **parent).json()
    wrote = send(
        api, "post", "/v3/data/devices/_this_", {"temperature": 61}, **basic(key["id"], key["secret"])
    )
    assert wrote.json() == {"accepted": 1, "rejected": 0}
    send(api, "post", "/v3/data/devices/_this_", {"temperature": 20}, **basic(own.key.id, own.auth))
    assert DataPoint.objects.filter(account_id=sub["id"]).count() == 1
    assert JournalEntry.objects.filter(account_id=sub["id"]).exists()

    # Not by itself, and the parent does not delete itself either.
    assert_v3_error(api.delete("/v3/accounts/_this_", **key_headers(sub)), 403)
    assert_v3_error(api.delete("/v3/accounts/_this_", **parent), 403)
    assert_v3_error(api.delete(f"/v3/accounts/{tenant.account.id}", **parent), 403)

    removed = api.delete(prefix, **parent)
    assert removed.status_code == 200 and removed.json() == {"nrOfItems": 1}
    assert set(Account.objects.values_list("id", flat=True)) == {tenant.account.id}
    assert not Plug.objects.exclude(account=tenant.account).exists()
    assert not DeviceProfile.objects.exists() and not User.objects.exists()
    assert not ApiKey.objects.filter(id__in=[sub["apiKey"]["id"], grandchild["apiKey"]["id"]]).exists()
    assert api.get("/v3/devices", **key_headers(sub)).status_code == 401
    assert_v3_error(api.delete(f"{prefix}?hard=true", **parent), 404)
    assert Plug.objects.filter(account=tenant.account).count() == 1
    # Its data went with it (plain account ids, no cascade: `data.signals`); the parent's stayed.
    assert not DataPoint.objects.exclude(account_id=tenant.account.id).exists()
    assert not JournalEntry.objects.exclude(account_id=tenant.account.id).exists()
    assert DataPoint.objects.filter(account_id=tenant.account.id).count() == 1


def test_siblings_see_nothing_of_each_other(
    api: APIClient, tenant: Tenant, sub: dict[str, Any], sibling: dict[str, Any]
) -> None:
    mine, theirs = key_headers(sub), key_headers(sibling)
    profile = send(api, "post", "/v3/deviceprofiles", {"name": "thermostat"}, **theirs).json()
    device = send(api, "post", "/v3/devices", {"name": "boiler"}, **theirs).json()
    app = send(api, "post", "/v3/apps", {"name": "hvac"}, **theirs).json()
    user = api.get("/v3/users", **theirs).json()["results"][0]
    acc = f"/v3/accounts/{sibling['id']}"
    for method, url, body in (
        ("get", acc, None),
        ("put", acc, {"friendlyName": "mine now"}),
        ("delete", acc, None),
        ("get", f"{acc}/devices", None),
        ("post", f"{acc}/devices", {"name": "planted"}),
        ("get", f"{acc}/users", None),
        ("get", f"/v3/devices/{device['id']}", None),
        ("put", f"/v3/devices/{device['id']}", {"friendlyName": "x"}),
        ("delete", f"/v3/devices/{device['id']}", None),
        ("get", f"/v3/data/devices/{device['id']}", None),
        ("get", f"/v3/devices/{device['id']}/apikey", None),
        ("get", f"/v3/deviceprofiles/{profile['id']}", None),
        ("get", f"/v3/properties?owner={profile['id']}", None),
        ("post", f"/v3/properties?owner={profile['id']}", {"name": "t", "ownerId": profile["id"]}),
        ("get", f"/v3/apps/{app['id']}", None),
        ("get", f"/v3/users/{user['id']}", None),
        ("post", "/v3/devices", {"name": "kitchen", "profile": profile["id"]}),
        ("post", "/v3/devices", {"name": "kitchen", "apps": [app["id"]]}),
        ("post", "/v3/apiclients", {"context": {"type": "devices", "ids": [device["id"]]}}),
        ("post", "/v3/apiclients", {"context": {"type": "account", "ids": [sibling["id"]]}}),
    ):
        assert_v3_error(send(api, method, url, body, **mine), 404)
    assert api.get(f"/v3/devices/{device['id']}", **theirs).json()["friendlyName"] == "boiler"
    assert Account.objects.filter(id=sibling["id"]).exists()
    assert not Plug.objects.filter(name__in=["planted", "kitchen"]).exists()


def test_another_tenant_reaches_no_sub_account(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, sub: dict[str, Any]
) -> None:
    url = f"/v3/accounts/{sub['id']}"
    for method, path in (
        ("get", url),
        ("delete", url),
        ("get", f"{url}/devices"),
        ("get", f"{url}/accounts"),
    ):
        assert_v3_error(send(api, method, path, None, **other_tenant.master_headers()), 404)
    assert api.get("/v3/accounts", **other_tenant.master_headers()).json()["total"] == 0


def test_an_api_client_with_subaccount_read_only_reads(
    api: APIClient, tenant: Tenant, sub: dict[str, Any]
) -> None:
    reader, secret = apiclient_create(account=tenant.account, scope=["subaccount:read", "device:modify"])
    headers = basic(reader.id, secret)
    assert [a["id"] for a in api.get("/v3/accounts", **headers).json()["results"]] == [sub["id"]]
    assert api.get(f"/v3/accounts/{sub['id']}", **headers).json()["id"] == sub["id"]
    assert_v3_error(send(api, "patch", f"/v3/accounts/{sub['id']}", {"friendlyName": "x"}, **headers), 403)
    assert_v3_error(api.delete(f"/v3/accounts/{sub['id']}", **headers), 403)
    # Inside the sub-account it has no scope but `account:read`: it sees no device there.
    assert api.get(f"/v3/accounts/{sub['id']}/devices", **headers).json()["total"] == 0
    assert_v3_error(send(api, "post", f"/v3/accounts/{sub['id']}/devices", {"name": "x"}, **headers), 403)
    assert_v3_error(api.get(f"/v3/accounts/{sub['id']}/accounts", **headers), 403)
    body = {"name": "x", "user": {"email": "x@example.com"}}
    assert_v3_error(send(api, "post", "/v3/accounts", body, **headers), 403)
    # Without the scope, no list either; nor for a device key.
    other, other_secret = apiclient_create(account=tenant.account, scope=["device:read"])
    assert_v3_error(api.get("/v3/accounts", **basic(other.id, other_secret)), 403)
    assert_v3_error(api.get(f"/v3/accounts/{sub['id']}", **basic(other.id, other_secret)), 404)
    assert Account.objects.count() == 2
