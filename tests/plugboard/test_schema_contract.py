"""The OpenAPI schema is the contract (issue 13): valid, complete, and what the server does.

- the schema validates (drf-spectacular's own validation, the OpenAPI 3 JSON schema);
- every operation describes its responses — a success and the dialect's errors, by their
  component — and every POST/PUT/PATCH a request body with a real schema and an example;
- schemathesis fuzzes every operation against a real server on PostgreSQL with valid
  credentials of each dialect (tests/fuzzing.py): no 5xx, only documented statuses, bodies
  that conform. `PLUGBOARD_FUZZ_EXAMPLES` sets the examples per operation and credential
  (`make fuzz` runs many more).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.fuzzing import fuzz, fuzz_stateful, make_tenant
from tests.support import ServerProcess

WRITES = ("post", "put", "patch")
# Examples per operation and credential: a few in the suite, many more under `make fuzz`.
EXAMPLES = int(os.environ.get("PLUGBOARD_FUZZ_EXAMPLES", "5"))
# Stateful scenarios per created kind (each up to STEPS calls): bounded in the suite, more under `make fuzz`.
SCENARIOS = int(os.environ.get("PLUGBOARD_FUZZ_SCENARIOS", "6"))
STEPS = 8
ERRORS = {"/iot/": "ChannelError", "/v3/": "PropertyError"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    return generated


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_every_operation_describes_its_responses_and_errors(schema: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(schema):
        responses = op.get("responses", {})
        successes = [code for code in responses if code.startswith("2")]
        error = next(name for prefix, name in ERRORS.items() if path.startswith(prefix))
        for code in ("400", "401", "403", "404", "413", "429"):
            content = responses.get(code, {}).get("content", {}).get("application/json", {})
            if error not in str(content.get("schema")):
                missing.append(f"{method} {path}: {code} without {error}")
            elif error == "PropertyError" and content["schema"].get("type") != "array":
                missing.append(f"{method} {path}: {code} is not a list of PropertyError")
        for code in successes:
            if "content" not in responses[code]:
                missing.append(f"{method} {path}: {code} has no body")
        if not successes:
            missing.append(f"{method} {path}: no success response")
    assert not missing, "\n".join(missing)


def test_every_write_describes_its_body_with_an_example(schema: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(schema):
        if method not in WRITES:
            continue
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not content or content.get("schema") in (None, {}):
            missing.append(f"{method} {path}: no request body schema")
        elif not content.get("examples"):
            missing.append(f"{method} {path}: no example")
    assert not missing, "\n".join(missing)


def test_operation_ids_are_unique_without_numbering(schema: dict[str, Any]) -> None:
    # A generated client names its functions after them (plugboard.schema.PlatformAutoSchema).
    ids = [op["operationId"] for _, _, op in _operations(schema)]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if re.search(r"_\d+$", i)]
    assert "iot_device_by_ref_by_key_partial_update" in ids


def test_every_create_links_to_the_operations_taking_its_id(schema: dict[str, Any]) -> None:
    # plugboard.schema.create_links: what a stateful fuzzer follows to reach real objects.
    linked = {
        link["operationId"]
        for item in schema["paths"].values()
        for op in item.values()
        for response in op.get("responses", {}).values()
        for link in response.get("links", {}).values()
    }
    ids = {op["operationId"]: (method, path) for method, path, op in _operations(schema)}
    for made in ("devices", "deviceprofiles", "apps", "appprofiles", "apiclients", "users", "properties"):
        assert any(i.startswith(f"v3_{made}_by_") for i in linked), made
    assert "v3_accounts_by_acc_devices_create" in linked  # a sub-account's own operations
    assert "v3_data_devices_by_ref_properties_create" in linked  # a device written by its id
    assert "iot_device_by_ref_retrieve" in linked
    for name in linked:
        assert name in ids, name
    # Every path id but the names a caller chooses (channels, masks, prop keys) and the
    # incidents the platform opens comes from some create.
    unlinked = {
        path
        for name, (_, path) in ids.items()
        if "{" in path and name not in linked and not re.search(r"\{(channel|mask|key|incident_id)\}", path)
    }
    assert unlinked <= {p for p in unlinked if "/data/apps/{ref}/properties/{prp}" in p}, sorted(unlinked)


def test_the_schema_names_each_credential_form(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {"accountBasic", "plugBasic", "keyBasic", "plugId", "plugAuth", "plugEmail", "plugMaster"} <= set(
        schemes
    )
    enrollment = schema["paths"]["/iot/device"]["post"]["security"]
    assert {} in enrollment  # production enrollment needs no credentials
    apiclients = schema["paths"]["/v3/apiclients/"]["post"]["security"]
    assert {"plugId": [], "plugAuth": []} not in apiclients  # the account only


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(max(600, EXAMPLES * 30))
def test_schemathesis_finds_nothing(start_server: Callable[..., ServerProcess]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the contract is fuzzed on PostgreSQL")
    server = start_server()
    counter = iter(range(1_000))
    report = fuzz(server.base, lambda kind: make_tenant(kind, next(counter)), examples=EXAMPLES)
    print(report.summary())  # noqa: T201 - the figures `make fuzz` shows
    assert report.requests > len(report.operations)
    assert not report.failures, "\n\n".join(report.failures)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(max(600, SCENARIOS * 20))
def test_schemathesis_stateful_finds_nothing(start_server: Callable[..., ServerProcess]) -> None:
    """The stateful phase follows the links from creates to the operations on what they made."""
    if connection.vendor != "postgresql":
        pytest.skip("the contract is fuzzed on PostgreSQL")
    server = start_server()
    report = fuzz_stateful(server.base, make_tenant("account", 0), scenarios=SCENARIOS, steps=STEPS)
    print(report.summary(), "; reached by id:", len(report.reached))  # noqa: T201 - `make fuzz` shows it
    assert not report.failures, "\n\n".join(report.failures)
    # Scenarios went past the creates: some operation on a made id answered a success.
    assert report.reached, report.statuses
