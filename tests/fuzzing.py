"""Schemathesis over the served OpenAPI schema, against a real server (tests.support.serve).

Every operation is fuzzed with valid credentials of its dialect — the channel dialect (`/iot/`)
as the account (master password in headers) and as a plug (id + auth), the property dialect
(`/v3/`) as a device key and as a user key — each credential kind on resources of its own
tenant (a thing, a controller, a property, an API client), so what one pass deletes or
regenerates leaves the others whole. Path parameters are either fuzzed or, drawn as often,
the tenant's real ids, so the requests reach past the 404s; cases are drawn both from data
that fits the schema and from data that does not. Each response is checked for: no
5xx, a documented status code, the documented content type, a body that conforms to the
schema.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devices.models import Plug
from devices.services.management import property_define
from devices.services.plugs import plug_create
from plugboard.services import account_create, apiclient_create, key_create

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PASSWORD = "correct horse battery"


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@dataclass
class Tenant:
    """One account's resources and the credential a pass uses on them."""

    headers: dict[str, str]
    refs: dict[str, list[str]]


def make_tenant(kind: str, n: int) -> Tenant:
    """An account with a thing (with a property and a point), a controller of it and an API
    client; `kind` picks the credential: account, plug, device key or user key."""
    account = account_create(email=f"fuzz-{kind}-{n}@example.com", password=PASSWORD)
    thing = plug_create(account=account, name="thermostat", hwid=f"SN-{kind}-{n}")
    property_define(plug=thing.plug, name="temperature", type="number")
    controller = plug_create(account=account, name="gateway", kind=Plug.Kind.CONTROLLER)
    client, _ = apiclient_create(
        account=account.id,
        scope=["device:read-data"],
        context_type="account",
        context_ids=[],
        app=None,
        name="reader",
        rate_limit=0,
    )
    headers = {
        "account": {"X-Plug-Email": account.email, "X-Plug-Master": PASSWORD},
        "plug": {"X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth},
        "device key": basic(thing.key.id, thing.auth),
        "user key": basic(*_user_key(account)),
    }[kind]
    refs = {
        "ref": [thing.plug.id, "_this_", thing.plug.name, controller.plug.id],
        "acc": ["_this_", account.id],
        "prp": ["temperature"],
        "key_id": [client.id],
        "key": ["room"],
        "channel": ["temperature", "home/temp"],
        "mask": ["#", "+"],
    }
    return Tenant(headers, refs)


def _user_key(account: Any) -> tuple[str, str]:
    key, secret = key_create(account=account, kind="user")
    return key.id, secret


@dataclass
class Report:
    operations: set[str] = field(default_factory=set)
    # Operations on an id a create answered that succeeded (the stateful phase's reach).
    reached: set[str] = field(default_factory=set)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return (
            f"fuzzed {len(self.operations)} operations with {self.requests} requests in "
            f"{time.monotonic() - self.started:.0f} s: {len(self.failures)} failures; statuses {codes}"
        )


def load_schema(base: str) -> Any:
    with urllib.request.urlopen(f"{base}/api/schema/?format=json", timeout=30) as response:  # noqa: S310
        raw = json.loads(response.read())
    return schemathesis.openapi.from_dict(raw), raw


def dialect(path: str) -> str:
    return "channel" if path.startswith("/iot/") else "property"


CREDENTIALS = {"channel": ("account", "plug"), "property": ("device key", "user key")}


def fuzz(
    base: str, tenants: Callable[[str], Tenant], *, examples: int, report: Report | None = None
) -> Report:
    """Fuzz every operation of the served schema with each credential kind of its dialect."""
    report = report or Report()
    schema, _ = load_schema(base)
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    for kind in ("plug", "account", "device key", "user key"):
        tenant = tenants(kind)
        for operation in operations:
            if kind not in CREDENTIALS[dialect(operation.path)]:
                continue
            report.operations.add(f"{operation.method.upper()} {operation.path}")
            _fuzz_operation(operation, tenant, base, session, examples, report, kind)
    return report


def _fuzz_operation(
    operation: Any, tenant: Tenant, base: str, session: Any, examples: int, report: Report, kind: str
) -> None:
    names = [name for name in tenant.refs if "{" + name + "}" in operation.path]
    real = st.fixed_dictionaries({name: st.sampled_from([None, *tenant.refs[name]]) for name in names})
    # Data that fits the schema, and data that does not (wrong types, missing fields, …).
    cases = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=cases, choice=real)
    def run(case: Any, choice: dict[str, str | None]) -> None:
        for name, value in choice.items():
            if value is not None:
                case.path_parameters[name] = value
        # Generated credentials would replace the valid ones: only ours are sent.
        for header in ("Authorization", "X-Plug-Id", "X-Plug-Auth", "X-Plug-Email", "X-Plug-Master"):
            (case.headers or {}).pop(header, None)
        response = case.call(base_url=base, session=session, headers=tenant.headers, timeout=30)
        report.requests += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=tenant.headers)

    try:
        run()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # schemathesis' FailureGroup: reported, then the test fails
        report.failures.append(f"[{kind}] {operation.method.upper()} {operation.path}: {exc}"[:3000])


def link_families(raw: dict[str, Any]) -> dict[str, list[str]]:
    """Each create operation's id with the operations its links lead to, by the create's id: one
    family per kind of object (a device, a profile, an app, an API client, a user, a property, a
    sub-account, a channel-dialect plug). The twins under `/v3/accounts/{acc}/` are left to the
    sub-account's family, whose links reach them."""
    families: dict[str, list[str]] = {}
    for path, item in raw["paths"].items():
        create = item.get("post", {})
        links = {
            name for response in create.get("responses", {}).values() for name in response.get("links", {})
        }
        if not links or path.startswith("/v3/accounts/{acc}/") or path == "/iot/device/":
            continue
        families[create["operationId"]] = [create["operationId"], *sorted(links)]
    return families


def fuzz_stateful(
    base: str, tenant: Tenant, *, scenarios: int, steps: int, report: Report | None = None
) -> Report:
    """Schemathesis' stateful phase over the served schema's links (`plugboard.schema.create_links`),
    one family of operations at a time (`link_families`): `scenarios` scenarios of up to `steps`
    calls that create an object and then read, change and delete it by the id the create answered,
    with the tenant's account credentials (both dialects take them). Each response gets the same
    checks as the stateless fuzz; every family's first failure is reported."""
    report = report or Report()
    schema, raw = load_schema(base)
    # Bodies that fit the schema: a create must succeed for its links to lead anywhere (the
    # stateless fuzz sends the ones that do not).
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    session = requests.Session()
    for family, operation_ids in link_families(raw).items():
        machine = schema.include(operation_id=operation_ids).as_state_machine()
        _run_family(machine, family, base, session, tenant, scenarios, steps, report)
    return report


def _run_family(
    machine: Any,
    family: str,
    base: str,
    session: Any,
    tenant: Tenant,
    scenarios: int,
    steps: int,
    report: Report,
) -> None:
    class Scenario(machine):  # type: ignore[misc,valid-type]
        def before_call(self, case: Any) -> None:
            # Generated credentials would replace the valid ones: only ours are sent.
            for header in ("Authorization", "X-Plug-Id", "X-Plug-Auth", "X-Plug-Email", "X-Plug-Master"):
                (case.headers or {}).pop(header, None)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "session": session, "headers": tenant.headers, "timeout": 30}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            report.requests += 1
            report.operations.add(f"{case.operation.method.upper()} {case.operation.path}")
            report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
            if case.path_parameters and response.status_code < 300:
                report.reached.add(f"{case.operation.method.upper()} {case.operation.path}")

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=tenant.headers)

    try:
        Scenario.run(
            settings=settings(
                max_examples=scenarios,
                stateful_step_count=steps,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the first failing scenario, shrunk
        report.failures.append(f"[stateful {family}] {exc}"[:5000])
