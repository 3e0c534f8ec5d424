"""Bad input gets a clear error in the dialect's shape and loses nothing (channel dialect).

One test per class of bad input: malformed JSON, oversized bodies, unknown ids, wrong types,
unknown URLs and methods; plus the POST + `X-HTTP-Method-Override` path clients rely on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.models import Plug
from devices.services.plugs import Enrolled
from tests.conftest import Tenant, basic, plug_headers

UNKNOWN = "dev-" + "0" * 24


@pytest.fixture(autouse=True)
def _fast_hashes(settings: Any) -> None:
    # Production-strength PBKDF2 costs ~0.5 s a hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"err", "msg"}
    assert body["err"] == status
    assert isinstance(body["msg"], str) and body["msg"]


def raw(api: APIClient, method: str, url: str, body: str | bytes, **headers: str) -> Any:
    return getattr(api, method)(url, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize("body", ['{"name": ', "{'name': 'x'}", '{"name": NaN}', "[1,]", b"\xff\xfe", "nul"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/iot/device"),
        ("put", "/iot/device"),
        ("delete", "/iot/device"),
        ("patch", "/iot/device/{id}"),
    ],
)
def test_malformed_json_is_a_400(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: str | bytes, method: str, path: str
) -> None:
    response = raw(api, method, path.format(id=thing.plug.id), body, **tenant.master_headers())

    assert_error(response, 400)
    assert Plug.objects.filter(id=thing.plug.id, name="thermostat").exists()
    assert Plug.objects.count() == 1


def test_malformed_json_without_credentials_is_a_400(api: APIClient) -> None:
    assert_error(raw(api, "post", "/iot/device", '{"model": "mod-x", "hwid": '), 400)


def test_a_body_over_the_limit_is_a_413(
    api: APIClient, tenant: Tenant, thing: Enrolled, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256
    big = json.dumps({"props": {"blob": "x" * 1000}})

    patched = raw(api, "patch", f"/iot/device/{thing.plug.id}", big, **tenant.master_headers())
    enrolled = raw(api, "post", "/iot/device", json.dumps({"name": "n" * 10, "props": {"b": "y" * 500}}))

    assert_error(patched, 413)
    assert_error(enrolled, 413)
    assert Plug.objects.get(id=thing.plug.id).props == {}
    small = raw(
        api, "patch", f"/iot/device/{thing.plug.id}", '{"props": {"a": 1}}', **tenant.master_headers()
    )
    assert small.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/iot/device/{unknown}", None),
        ("patch", "/iot/device/{unknown}", {"name": "x"}),
        ("delete", "/iot/device/{unknown}", {"controlled": "{id}"}),
        ("get", "/iot/device/{unknown}/", None),
        ("patch", "/iot/device/{unknown}/", {"a": 1}),
        ("delete", "/iot/device/{unknown}/", None),
        ("get", "/iot/device/{unknown}/color", None),
        ("patch", "/iot/device/{unknown}/color", "red"),
        ("delete", "/iot/device/{unknown}/color", None),
        ("get", "/iot/device/no-such-name", None),
        ("get", "/iot/device/{id}/no-such-prop", None),
    ],
)
def test_unknown_ids_are_a_404(
    api: APIClient, tenant: Tenant, thing: Enrolled, method: str, path: str, body: Any
) -> None:
    url = path.format(unknown=UNKNOWN, id=thing.plug.id)
    data = json.dumps(body).replace("{id}", thing.plug.id) if body is not None else None

    response = getattr(api, method)(
        url, data=data, content_type="application/json", **tenant.master_headers()
    )

    assert_error(response, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"props": "not an object"},
        {"props": [1, 2]},
        {"props": 3},
        {"perm": "rw"},
        {"perm": {"of": {"r": "everyone"}}},
        {"perm": {"of": {"w": [1]}}},
        {"perm": {"ctrl": "rwx"}},
        {"name": "has space"},
        {"name": "-dash-first"},
        {"name": 42},
        {"name": ["a"]},
        {"name": "n" * 65},
        {"status": "gone"},
        {"status": None},
    ],
)
def test_wrong_types_are_a_400_and_change_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any]
) -> None:
    before = Plug.objects.values("name", "perm", "props", "status").get(id=thing.plug.id)

    response = raw(api, "patch", f"/iot/device/{thing.plug.id}", json.dumps(body), **tenant.master_headers())

    assert_error(response, 400)
    assert Plug.objects.values("name", "perm", "props", "status").get(id=thing.plug.id) == before


def test_method_override_turns_a_post_into_any_method(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    url = f"/iot/device/{thing.plug.id}"
    h = plug_headers(thing)

    patched = raw(api, "post", url, '{"name": "renamed"}', HTTP_X_HTTP_METHOD_OVERRIDE="PATCH", **h)
    got = api.post(url, HTTP_X_HTTP_METHOD_OVERRIDE="GET", **h)
    prop = raw(api, "post", url + "/color", '"red"', HTTP_X_HTTP_METHOD_OVERRIDE="patch", **h)
    removed = api.post(url + "/color", HTTP_X_HTTP_METHOD_OVERRIDE="DELETE", **h)
    unenrolled = raw(
        api, "post", "/iot/device", json.dumps(thing.plug.id), HTTP_X_HTTP_METHOD_OVERRIDE="DELETE", **h
    )

    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    assert got.status_code == 200
    assert got.json()["name"] == "renamed"
    assert prop.json() == {"color": "red"}
    assert removed.json() == 1
    assert unenrolled.json() == 1
    assert not Plug.objects.filter(id=thing.plug.id).exists()


def test_an_unsupported_override_is_a_400(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    response = api.post(
        f"/iot/device/{thing.plug.id}", HTTP_X_HTTP_METHOD_OVERRIDE="TRACE", **plug_headers(thing)
    )

    assert_error(response, 400)


@pytest.mark.parametrize(
    "path", ["/iot/nothing", "/iot/devices", "/iot/device-x", "/iot/", "/iot/device/a/b/../c/%00", "/iot"]
)
def test_unknown_urls_under_iot_are_a_json_404(api: APIClient, tenant: Tenant, path: str) -> None:
    response = api.get(path, **tenant.master_headers())

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"err", "msg"}
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/iot/device"),
        ("put", "/iot/device/{id}"),
        ("post", "/iot/device/{id}"),
        ("put", "/iot/device/{id}/x"),
    ],
)
def test_an_unsupported_method_is_a_405(
    api: APIClient, tenant: Tenant, thing: Enrolled, method: str, path: str
) -> None:
    response = getattr(api, method)(path.format(id=thing.plug.id), **tenant.master_headers())

    assert_error(response, 405)


# --- hostile input found by the input sweep ---------------------------------------------------


def assert_v3_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    [error] = response.json()
    assert set(error) == {"code", "cause", "message"} and error["code"] == status


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b"}',
        b'{"props": {"k": "\\u0000"}}',
        b'{"props": {"\\u0000": 1}}',
        b'{"props": {"k": "\\udfff"}}',
        b'{"props": {"k": 1e999}}',
        b'{"props": {"k": ' + b"{" * 70 + b"}" * 70 + b"}",
    ],
)
def test_unstorable_json_is_a_400_and_changes_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: bytes
) -> None:
    response = raw(api, "patch", f"/iot/device/{thing.plug.id}", body, **tenant.master_headers())

    assert_error(response, 400)
    assert Plug.objects.values_list("name", "props").get(id=thing.plug.id) == ("thermostat", {})


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "description": "\\u0000"}',
        b'{"name": "x", "tags": ["\\ud800"]}',
        b'{"name": "x", "period": 1e400}',
        b'{"name": "x", "location": {"geo": {"lat": 1, "lon": 1, "alt": 1' + b"0" * 400 + b"}}}",
    ],
)
def test_unstorable_json_under_v3_is_a_400(api: APIClient, tenant: Tenant, body: bytes) -> None:
    response = raw(api, "post", "/v3/devices", body, **tenant.master_headers())

    assert_v3_error(response, 400)
    assert not Plug.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/iot/device/dev-%00",
        "/iot/device/%00/",
        "/v3/devices/a%00b",
        "/v3/accounts/%00/devices",
        "/iot/data/%00",
    ],
)
def test_nul_in_a_path_names_nothing(api: APIClient, tenant: Tenant, path: str) -> None:
    response = api.get(path, **tenant.master_headers())

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_PLUG_ID": "dev-\x00", "HTTP_X_PLUG_AUTH": "x"},
        {"HTTP_X_PLUG_EMAIL": "a\x00@b.c", "HTTP_X_PLUG_MASTER": "x"},
        basic("_key_\x00", "secret"),
        basic("dev-\x00", "secret"),
        basic("someone@example.com", "pass\x00word"),
    ],
)
def test_nul_in_credentials_is_a_401(api: APIClient, tenant: Tenant, headers: dict[str, str]) -> None:
    assert_error(api.get("/iot/device/_this_", **headers), 401)
    assert_v3_error(api.get("/v3/devices", **headers), 401)


@pytest.mark.parametrize(
    "query", ["pageNo=9223372036854775807", "pageNo=99999999999999999999999", "pageNo=0", "pageSize=0"]
)
def test_page_numbers_beyond_any_offset_are_a_400(api: APIClient, tenant: Tenant, query: str) -> None:
    assert_v3_error(api.get(f"/v3/devices?{query}", **tenant.master_headers()), 400)


def test_refs_longer_than_any_name_are_a_404(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    long = "x" * 60_000
    h = tenant.master_headers()

    assert_v3_error(api.get(f"/v3/properties?owner={long}", **h), 404)
    assert_v3_error(api.get(f"/v3/data/devices/{thing.plug.id}/properties/{long}", **h), 404)
    assert_error(api.get(f"/iot/device/{long}", **h), 404)
