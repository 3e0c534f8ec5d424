"""The credential layer (SPEC §3): every accepted form, the refusals, and the failure budget —
exercised on `GET /iot/device/{id}` for a plug enrolled through `POST /iot/device`."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

import plugboard.models
from devices.models import Plug
from plugboard.models import ApiKey
from tests.conftest import Tenant, basic


@pytest.fixture(autouse=True)
def _fast_hashes(settings: Any) -> None:
    # Production-strength PBKDF2 costs ~0.5 s a hash; what is tested here is the layer around it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Device:
    id: str
    auth: str
    key_id: str


@pytest.fixture
def device(api: APIClient, tenant: Tenant) -> Device:
    response = api.post("/iot/device", {"name": "sensor"}, format="json", **tenant.master_headers())
    assert response.status_code == 200
    body = response.json()
    key = ApiKey.objects.get(plug_id=body["id"], kind=ApiKey.Kind.DEVICE)
    return Device(id=body["id"], auth=body["auth"], key_id=key.id)


def _forms(tenant: Tenant, device: Device) -> dict[str, dict[str, str]]:
    user_key, user_secret = tenant.user_key()
    return {
        "plug-id+auth": {"HTTP_X_PLUG_ID": device.id, "HTTP_X_PLUG_AUTH": device.auth},
        "plug-id+master": {"HTTP_X_PLUG_ID": device.id, "HTTP_X_PLUG_MASTER": tenant.password},
        "email+master": tenant.master_headers(),
        "basic email:master": basic(tenant.email, tenant.password),
        "basic dev:auth": basic(device.id, device.auth),
        "basic user key": basic(user_key, user_secret),
        "basic device key": basic(device.key_id, device.auth),
    }


FORMS = [
    "plug-id+auth",
    "plug-id+master",
    "email+master",
    "basic email:master",
    "basic dev:auth",
    "basic user key",
    "basic device key",
]


@pytest.mark.parametrize("form", FORMS)
def test_every_credential_form_is_accepted(api: APIClient, tenant: Tenant, device: Device, form: str) -> None:
    response = api.get(f"/iot/device/{device.id}", **_forms(tenant, device)[form])

    assert response.status_code == 200
    assert response.json()["id"] == device.id


def test_email_is_case_insensitive(api: APIClient, tenant: Tenant, device: Device) -> None:
    headers = {"HTTP_X_PLUG_EMAIL": tenant.email.upper(), "HTTP_X_PLUG_MASTER": tenant.password}

    assert api.get(f"/iot/device/{device.id}", **headers).status_code == 200


def test_missing_credentials_are_a_401(api: APIClient, device: Device) -> None:
    response = api.get(f"/iot/device/{device.id}")

    assert response.status_code == 401
    assert set(response.json()) == {"err", "msg"}
    assert response.json()["err"] == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_PLUG_ID": "{id}"},  # incomplete
        {"HTTP_X_PLUG_AUTH": "{auth}"},
        {"HTTP_X_PLUG_MASTER": "x"},
        {"HTTP_AUTHORIZATION": "Basic !!!not-base64"},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
    ],
    ids=["id-only", "auth-only", "master-only", "bad-base64", "bad-utf8"],
)
def test_malformed_credentials_are_a_401(api: APIClient, device: Device, headers: dict[str, str]) -> None:
    filled = {k: v.format(id=device.id, auth=device.auth) for k, v in headers.items()}

    response = api.get(f"/iot/device/{device.id}", **filled)

    assert response.status_code == 401
    assert response.json()["err"] == 401


@pytest.mark.parametrize(
    "wrong",
    [
        lambda t, d: {"HTTP_X_PLUG_ID": d.id, "HTTP_X_PLUG_AUTH": "0" * 32},
        lambda t, d: {"HTTP_X_PLUG_ID": d.id, "HTTP_X_PLUG_MASTER": "not the password"},
        lambda t, d: {"HTTP_X_PLUG_EMAIL": t.email, "HTTP_X_PLUG_MASTER": "not the password"},
        lambda t, d: {"HTTP_X_PLUG_EMAIL": "nobody@example.com", "HTTP_X_PLUG_MASTER": t.password},
        lambda t, d: basic(t.email, "nope"),
        lambda t, d: basic("nobody@example.com", t.password),
        lambda t, d: basic(d.id, d.auth[::-1]),
        lambda t, d: basic(d.key_id, "f" * 32),
        lambda t, d: basic("_key_" + "0" * 24, d.auth),
        lambda t, d: {"HTTP_X_PLUG_ID": "dev-" + "0" * 24, "HTTP_X_PLUG_AUTH": d.auth},
    ],
    ids=[
        "plug-auth",
        "plug-master",
        "email-master",
        "wrong-email",
        "basic-email",
        "basic-wrong-email",
        "basic-plug",
        "basic-key-secret",
        "basic-unknown-key",
        "auth-of-another-plug-id",
    ],
)
def test_wrong_secret_or_identity_is_a_401(
    api: APIClient, tenant: Tenant, device: Device, wrong: Callable[[Tenant, Device], dict[str, str]]
) -> None:
    response = api.get(f"/iot/device/{device.id}", **wrong(tenant, device))

    assert response.status_code == 401
    assert response.json() == {"err": 401, "msg": "invalid credentials"}


def test_another_accounts_credentials_see_nothing(
    api: APIClient, device: Device, other_tenant: Tenant
) -> None:
    # The fixtures share one password; the intruder's must differ for the hybrid case to mean anything.
    other_tenant.account.set_password("intruder password")
    other_tenant.account.save()
    other_tenant.password = "intruder password"
    foreign_plug = other_tenant.plug("spy")
    key_id, secret = other_tenant.user_key()

    cases = [
        (other_tenant.master_headers(), 404),
        (basic(key_id, secret), 404),
        ({"HTTP_X_PLUG_ID": foreign_plug.plug.id, "HTTP_X_PLUG_AUTH": foreign_plug.auth}, 404),
        # The other account's password with my plug id proves nothing: a wrong secret.
        ({"HTTP_X_PLUG_ID": device.id, "HTTP_X_PLUG_MASTER": other_tenant.password}, 401),
    ]
    for headers, status in cases:
        response = api.get(f"/iot/device/{device.id}", **headers)
        assert response.status_code == status
        assert "sensor" not in response.content.decode()


@pytest.mark.parametrize("form", ["plug-id+auth", "plug-id+master", "basic dev:auth", "basic device key"])
def test_a_disabled_plug_is_a_403(api: APIClient, tenant: Tenant, device: Device, form: str) -> None:
    headers = _forms(tenant, device)[form]
    Plug.objects.filter(id=device.id).update(status="disabled")

    response = api.get(f"/iot/device/{device.id}", **headers)
    by_account = api.get(f"/iot/device/{device.id}", **tenant.master_headers())

    assert response.status_code == 403
    assert response.json() == {"err": 403, "msg": "plug is disabled"}
    assert by_account.status_code == 200
    assert by_account.json()["status"] == "disabled"


def test_21_failures_from_one_address_are_a_429(api: APIClient, tenant: Tenant, device: Device) -> None:
    wrong = {"HTTP_X_PLUG_ID": device.id, "HTTP_X_PLUG_AUTH": "0" * 32}
    right = {"HTTP_X_PLUG_ID": device.id, "HTTP_X_PLUG_AUTH": device.auth}

    statuses = [api.get(f"/iot/device/{device.id}", **wrong).status_code for _ in range(20)]
    blocked = api.get(f"/iot/device/{device.id}", **wrong)
    even_right = api.get(f"/iot/device/{device.id}", **right)
    elsewhere = APIClient(REMOTE_ADDR="192.0.2.7").get(f"/iot/device/{device.id}", **right)

    assert statuses == [401] * 20
    assert blocked.status_code == 429
    body = blocked.json()
    assert set(body) == {"err", "msg"}
    assert body["err"] == 429
    assert isinstance(body["msg"], str) and body["msg"]
    # A device key's secret cannot be guessed: the right one is accepted all the same (anyone
    # who knows the plug id could cause its failures).
    assert even_right.status_code == 200
    assert elsewhere.status_code == 200


def test_the_master_password_is_hashed_once_then_remembered(
    api: APIClient, tenant: Tenant, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = plugboard.models.check_password

    def counting(raw: str, encoded: str, *args: Any, **kwargs: Any) -> bool:
        calls.append(encoded)
        return real(raw, encoded, *args, **kwargs)

    monkeypatch.setattr(plugboard.models, "check_password", counting)
    cache.clear()  # enrolling the device already verified (and remembered) the password
    url = f"/iot/device/{device.id}"

    first = api.get(url, **tenant.master_headers())
    second = api.get(url, **tenant.master_headers())
    third = api.get(url, **basic(tenant.email, tenant.password))
    wrong = api.get(url, HTTP_X_PLUG_EMAIL=tenant.email, HTTP_X_PLUG_MASTER="not it")

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 200)
    assert len(calls) == 2  # once for the first request, once for the wrong password
    assert wrong.status_code == 401


def test_a_password_change_invalidates_the_remembered_check(
    api: APIClient, tenant: Tenant, device: Device
) -> None:
    url = f"/iot/device/{device.id}"
    assert api.get(url, **tenant.master_headers()).status_code == 200

    tenant.account.set_password("a new password")
    tenant.account.save()

    assert api.get(url, **tenant.master_headers()).status_code == 401
