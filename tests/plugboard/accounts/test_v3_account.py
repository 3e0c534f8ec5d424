"""`/v3/accounts/{acc}`: the account object and its default retention (SPEC §6)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.services.plugs import Enrolled
from plugboard.models import Account
from plugboard.services import apiclient_create
from tests.conftest import Tenant, basic, plug_headers
from tests.devices.test_v3_devices import assert_v3_error

ACCOUNT_KEYS = {
    "id",
    "name",
    "friendlyName",
    "email",
    "status",
    "plan",
    "locked",
    "ownerId",
    "tags",
    "description",
    "defaultRetention",
    "dateCreated",
    "dateModified",
}


def send(api: APIClient, method: str, url: str, body: Any, **headers: str) -> Any:
    return getattr(api, method)(url, data=json.dumps(body), content_type="application/json", **headers)


def test_get_the_account(api: APIClient, tenant: Tenant) -> None:
    for url in ("/v3/accounts/_this_", f"/v3/accounts/{tenant.account.id}", "/v3/accounts/_this_/"):
        response = api.get(url, **tenant.master_headers())
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == ACCOUNT_KEYS and body["id"] == tenant.account.id
        assert body["defaultRetention"] is None and body["status"] == "active"
        assert (body["plan"], body["locked"], body["ownerId"]) == (None, False, None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3600, 3600), ("30d", 30 * 86400), ({"type": "historical", "lifetime": "12h"}, 43200)],
)
def test_put_and_patch_set_the_default_retention(
    api: APIClient, tenant: Tenant, value: Any, seconds: int
) -> None:
    headers = tenant.master_headers()
    response = send(api, "patch", "/v3/accounts/_this_", {"defaultRetention": value}, **headers)
    assert response.status_code == 200, response.content
    assert response.json()["defaultRetention"]["seconds"] == seconds
    assert Account.objects.get(id=tenant.account.id).default_retention == seconds
    # PATCH without it keeps it; the GET object sent back with PUT keeps it too.
    assert (
        send(api, "patch", "/v3/accounts/_this_", {}, **headers).json()["defaultRetention"]["seconds"]
        == seconds
    )
    echoed = api.get("/v3/accounts/_this_", **headers).json()
    assert send(api, "put", "/v3/accounts/_this_", echoed, **headers).status_code == 200
    assert Account.objects.get(id=tenant.account.id).default_retention == seconds
    # PUT changes only what it names too (the Connio SDK's update PUTs just what it changes);
    # null removes it.
    assert send(api, "put", "/v3/accounts/_this_", {"friendlyName": "Acme"}, **headers).status_code == 200
    assert Account.objects.get(id=tenant.account.id).default_retention == seconds
    assert (
        send(api, "put", "/v3/accounts/_this_", {"defaultRetention": None}, **headers).json()[
            "defaultRetention"
        ]
        is None
    )
    assert Account.objects.get(id=tenant.account.id).default_retention is None


def test_a_user_key_sets_it(api: APIClient, tenant: Tenant) -> None:
    key_id, secret = tenant.user_key()
    response = send(api, "put", "/v3/accounts/_this_", {"defaultRetention": "1d"}, **basic(key_id, secret))
    assert response.status_code == 200, response.content
    assert Account.objects.get(id=tenant.account.id).default_retention == 86400


@pytest.mark.parametrize(
    "body",
    [
        {"defaultRetention": "forever"},
        {"defaultRetention": 0},
        {"defaultRetention": -1},
        {"defaultRetention": True},
        {"defaultRetention": {"type": "mostrecent", "capacity": 5}},
        {"defaultRetention": 10**12},
        {"retention": "1d"},
        [],
    ],
)
def test_bad_values_are_400_and_change_nothing(api: APIClient, tenant: Tenant, body: Any) -> None:
    for method in ("put", "patch"):
        assert_v3_error(send(api, method, "/v3/accounts/_this_", body, **tenant.master_headers()), 400)
    assert Account.objects.get(id=tenant.account.id).default_retention is None


def test_another_account_is_404(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    url = f"/v3/accounts/{tenant.account.id}"
    assert_v3_error(api.get(url, **other_tenant.master_headers()), 404)
    for method in ("put", "patch"):
        assert_v3_error(
            send(api, method, url, {"defaultRetention": 60}, **other_tenant.master_headers()), 404
        )
    assert Account.objects.get(id=tenant.account.id).default_retention is None


def test_keys_that_are_not_the_account_may_not_change_it(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    reader, reader_secret = apiclient_create(account=tenant.account, scope=["account:read"])
    everything, everything_secret = apiclient_create(account=tenant.account, scope=["*"])
    assert api.get("/v3/accounts/_this_", **basic(reader.id, reader_secret)).status_code == 200
    assert_v3_error(api.get("/v3/accounts/_this_", **plug_headers(thing)), 403)
    for headers in (
        plug_headers(thing),
        basic(reader.id, reader_secret),
        basic(everything.id, everything_secret),
    ):
        assert_v3_error(send(api, "patch", "/v3/accounts/_this_", {"defaultRetention": 60}, **headers), 403)
    assert Account.objects.get(id=tenant.account.id).default_retention is None
    assert_v3_error(api.get("/v3/accounts/_this_"), 401)


@pytest.mark.parametrize("status", [{}, [], 1, None, True])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_status_of_the_wrong_type_is_a_400(
    api: APIClient, tenant: Tenant, method: str, status: Any
) -> None:
    # It was a 500: a list or an object cannot be looked up among the status words.
    response = send(api, method, "/v3/accounts/_this_", {"status": status}, **tenant.master_headers())
    assert_v3_error(response, 400)
    assert Account.objects.get(id=tenant.account.id).is_active


@pytest.mark.parametrize(
    "body",
    [
        {"friendlyName": 5},
        {"friendlyName": ["x"]},
        {"description": {}},
        {"tags": "eu"},
        {"tags": [1]},
        {"defaultRetention": []},
        {"defaultRetention": True},
        {"colour": "blue"},
        [],
        "x",
    ],
)
def test_the_settings_shape_refuses_wrong_types(api: APIClient, tenant: Tenant, body: Any) -> None:
    # devices.shapes.accounts.AccountSettings: the object that documents the body also reads it.
    assert_v3_error(send(api, "patch", "/v3/accounts/_this_", body, **tenant.master_headers()), 400)
    account = Account.objects.get(id=tenant.account.id)
    assert (account.friendly_name, account.tags, account.default_retention) == ("", [], None)


def test_the_get_object_sent_back_changes_nothing_it_does_not_name(api: APIClient, tenant: Tenant) -> None:
    headers = tenant.master_headers()
    this = api.get("/v3/accounts/_this_", **headers).json()
    sent = {k: v for k, v in this.items() if k not in ("id", "dateCreated", "dateModified")}
    response = send(
        api, "put", "/v3/accounts/_this_", {**sent, "friendlyName": "Acme", "tags": None}, **headers
    )
    assert response.status_code == 200, response.content
    assert (response.json()["friendlyName"], response.json()["tags"]) == ("Acme", [])
