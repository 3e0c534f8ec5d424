"""A wrong JSON type in any body field is a 4xx in the dialect's error shape, never a 500 (issue 24).

The walk is driven by the served OpenAPI schema, so an operation or a field added later is walked
too: for every operation that takes a JSON body, each field of its documented example (nested
objects included, one level of lists too) and each field its schema names is replaced in turn by
values of every JSON type, and the request is sent against real objects of a tenant (a device
with a property, an app, a profile, a user, an API client). Each operation runs in a savepoint
rolled back afterwards, so what one deletes the next still finds.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

# One value of each JSON type, and the odd ones that broke hand-written checks before (an
# unhashable value where a word was expected, a number too large for a column).
WRONG: list[Any] = [{}, [], "x", 1.5, 10**30, True, None, [[]]]


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return _resolve(schema, schema["components"]["schemas"][name])
    return node


def _schema_fields(schema: dict[str, Any], node: Any) -> set[str]:
    """The top-level property names a body schema documents (through refs and any/one/allOf)."""
    node = _resolve(schema, node)
    if not isinstance(node, dict):
        return set()
    names = set(node.get("properties", {}))
    for key in ("anyOf", "oneOf", "allOf"):
        for part in node.get(key, []):
            names |= _schema_fields(schema, part)
    return names


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in an example body a value sits: keys of objects, first items of lists."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list) and value:
        found.append((*prefix, 0))
        found.extend(_paths(value[0], (*prefix, 0)))
    return found


def _replaced(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(body)
    target = out
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return out


def _bodies(schema: dict[str, Any], content: dict[str, Any]) -> list[Any]:
    """The operation's example bodies, each as it is and with every field replaced by each
    wrong value in turn (fields the schema names but no example holds are added)."""
    examples = [e["value"] for e in content.get("examples", {}).values() if "value" in e]
    fields = _schema_fields(schema, content.get("schema"))
    bodies: list[Any] = []
    for example in examples[:2] or [{}]:
        bodies.append(example)
        places = _paths(example)
        if isinstance(example, dict):
            places += [(name,) for name in sorted(fields - set(example))]
        for where in places:
            base = (
                example
                if where[0] in (example if isinstance(example, dict) else {}) or not isinstance(example, dict)
                else {**example, where[0]: None}
            )
            bodies.extend(_replaced(base, where, value) for value in WRONG)
    return bodies


def _shape_ok(path: str, response: Any) -> bool:
    try:
        body = response.json()
    except (ValueError, TypeError):
        return False
    if path.startswith("/iot/"):
        return isinstance(body, dict) and set(body) == {"err", "msg"} and body["err"] == response.status_code
    return (
        isinstance(body, list)
        and bool(body)
        and all(isinstance(e, dict) and {"code", "cause", "message"} <= set(e) for e in body)
    )


def _world(api: APIClient, tenant: Tenant) -> dict[str, str]:
    """Real objects of the tenant, made through the API, by the names the paths give their ids."""
    headers = tenant.master_headers()

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(path, json.dumps(body), content_type="application/json", **headers)
        assert response.status_code in (200, 201), (path, response.content)
        return response.json()

    profile = made("/v3/deviceprofiles", {"name": "meter"})
    device = made("/v3/devices", {"name": "thermostat", "profile": profile["id"]})
    made(f"/v3/devices/{device['id']}/properties", {"name": "temperature", "type": "number"})
    app_profile = made("/v3/appprofiles", {"name": "hub"})
    app = made("/v3/apps", {"name": "gateway", "profile": app_profile["id"]})
    prop = made("/v3/properties", {"name": "level", "ownerId": profile["id"], "type": "number"})
    user = made("/v3/users", {"email": "dev@example.com", "role": "developer"})
    client = made(
        "/v3/apiclients", {"name": "reader", "context": {"type": "account"}, "scope": ["device:read-data"]}
    )
    return {
        "device": device["id"],
        "app": app["id"],
        "profile": profile["id"],
        "app_profile": app_profile["id"],
        "property": prop["id"],
        "user_id": user["id"],
        "key_id": client["id"],
    }


def _fill(path: str, world: dict[str, str]) -> str:
    ref = world["device"]
    if "/apps/" in path:
        ref = world["app"]
    elif "/appprofiles/" in path:
        ref = world["app_profile"]
    elif "/deviceprofiles/" in path:
        ref = world["profile"]
    prp = world["property"] if re.search(r"/v3/(accounts/\{acc\}/)?properties/", path) else "temperature"
    values = {
        "acc": "_this_",
        "ref": ref,
        "prp": prp,
        "user_id": world["user_id"],
        "key_id": world["key_id"],
        "key": "room",
        "channel": "temperature",
        "mask": "#",
    }
    # An id this walk makes no object for (an operation added later): a 404 is still walked.
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "unknown"), path)


@pytest.mark.timeout(900)
def test_a_wrong_type_in_any_body_field_is_a_4xx_in_the_dialects_shape(tenant: Tenant) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    api = APIClient(raise_request_exception=False)
    world = _world(api, tenant)
    failures: list[str] = []
    sent = 0
    for path, item in schema["paths"].items():
        if (
            path.startswith("/v3/accounts/{acc}/")
            and "/v3" + path.removeprefix("/v3/accounts/{acc}") in schema["paths"]
        ):
            continue  # the same view as its twin without the prefix
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            url = _fill(path, world)
            for body in _bodies(schema, content):
                with transaction.atomic():
                    response = getattr(api, method)(
                        url, json.dumps(body), content_type="application/json", **tenant.master_headers()
                    )
                    transaction.set_rollback(True)
                sent += 1
                if response.status_code >= 500 or (
                    response.status_code >= 400 and not _shape_ok(path, response)
                ):
                    failures.append(
                        f"{method.upper()} {url} {json.dumps(body)[:200]} -> {response.status_code}"
                    )
    assert sent > 1_000
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:60])
