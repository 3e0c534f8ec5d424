"""Nothing of one account is reachable from another (SPEC §3), cell by cell.

HTTP: every operation the URL conf routes (walked from Django's resolver, so a new endpoint joins
the matrix by existing) × every credential kind of account B × each way of naming account A's
resources (its plug id, name, `_this_`, `/v3/accounts/{A}/…`, masks with `+`/`#`, A's OIDs and
ids in the query or the body, `X-HTTP-Method-Override`). In every cell B gets a refusal, or a
2xx whose body holds no identifier, secret or value of A's; and A's rows are the same after
the cell as before. Each cell runs in a savepoint rolled back after it, so B's own state is the
same for every cell (a cell that deletes B's own plug does not weaken the ones after it).

MQTT (a real server): CONNECT with A's plug id as client id, SUBSCRIBE to A's topics and
PUBLISH to A's device topics, by every MQTT credential kind of B.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import connection, models, transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from alerts.models import Alert, Incident
from data.models import DataPoint
from devices.models import Control, DeviceLogEntry, DeviceProfile, Plug, ProfileProperty, Property
from devices.services.plugs import plug_create, template_create
from devices.services.profiles import plug_profile_set
from outbound.connectors import connector_create
from outbound.models import DataConnector, OutboxMessage, OutboxStream, OutboxTarget
from plugboard.models import Account, ApiKey, User
from plugboard.services import account_create, apiclient_create, key_create
from tests.conftest import PASSWORD, basic
from tests.support import wait_for

# Routes outside the tenant API, each for a reason: the admin and the console have their own
# session sign-in and tests (tests/plugboard/test_admin.py, tests/plugboard/console/); the schema
# and docs describe the API and hold no tenant data; /healthz names no account; /metrics holds
# only platform-wide counts and has its own access rule (tests/plugboard/test_metrics.py).
SKIPPED_ROUTES = ("admin/", "console/", "api/schema/", "api/docs/", "healthz", "metrics")
LANDING_PAGE = ""  # `/`: links to the console, the API docs and the admin; no data of anyone
METHODS = ("get", "post", "put", "patch", "delete")
MARK = "amark"  # every value A stores carries it, so a leak of one is visible in any body

ID_RE = re.compile(r"(?:com-|dev-|mod-|_key_|_prp_|_dpf_|_usr_)?(?<![0-9a-f])[0-9a-f]{24}(?![0-9a-f])")


# --- the routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    template: str  # "/v3/accounts/{acc}/devices/{ref}": the placeholders are the route's params
    view: str  # the view class's name
    methods: tuple[str, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.template))


def _piece(pattern: Any) -> str:
    """One level of a URL pattern as a template: `<str:ref>` and `(?P<ref>…)` become `{ref}`."""
    text = str(pattern.pattern)
    if hasattr(pattern.pattern, "_route"):  # path(): a route string
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)  # re_path(): a regex
    return text.removeprefix("^").removesuffix("$").replace("/?", "")


def _routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        template = prefix + _piece(entry)
        if template.startswith(SKIPPED_ROUTES) or template == LANDING_PAGE:
            continue
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, template)
        elif isinstance(entry, URLPattern):
            view = entry.callback.view_class  # type: ignore[attr-defined]
            yield Route("/" + template, view.__name__, tuple(m for m in METHODS if hasattr(view, m)))


ROUTES = list(dict.fromkeys(_routes()))


def test_the_walk_finds_both_dialects_and_both_v3_forms() -> None:
    templates = {r.template for r in ROUTES}
    assert "/v3/devices/{ref}" in templates and "/v3/accounts/{acc}/devices/{ref}" in templates
    assert "/iot/data/{channel}" in templates and "/iot/device/{ref}" in templates
    assert "/v3/data/apps/{ref}/properties/{prp}/query" in templates
    v3 = [r for r in ROUTES if r.template.startswith("/v3/") and "{acc}" not in r.template]
    prefixed = [r for r in ROUTES if "{acc}" in r.template and r.template != "/v3/accounts/{acc}"]
    assert len(prefixed) == len(v3)  # every /v3/ path, twice (the account itself, once)
    assert "/v3/accounts/{acc}" in templates
    assert all(r.methods for r in ROUTES)


# --- the two accounts ---------------------------------------------------------------------------


@dataclass
class Alpha:
    """Account A: one of everything, every value marked."""

    account: Account
    thing: Any  # Enrolled
    controller: Any
    prop: Property
    apiclient: ApiKey
    template_id: str
    oid: str
    secrets: list[str]
    profile: Any = None  # DeviceProfile: A's thing is made from it
    profile_property_id: str = ""
    user_id: str = ""  # A's developer user
    subaccount_id: str = ""  # A's sub-account
    connector_id: str = ""  # A's data connector (on A's app)
    alert_id: str = ""  # A's alert on its thing
    incident_id: str = ""  # that alert's open incident


@dataclass
class Bravo:
    account: Account
    thing: Any
    controller: Any
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    mqtt: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind → (username, password)


def _alpha() -> Alpha:
    account = account_create(email="alpha@example.com", password=PASSWORD)
    thing = plug_create(
        account=account, name="alpha-thermo", hwid="ALPHA-HW", props={"label": f"{MARK}-label"}
    )
    controller = plug_create(account=account, name="alpha-ctrl", kind=Plug.Kind.CONTROLLER)
    Control.objects.create(controller=controller.plug, thing=thing.plug, rights="rw")
    prop = Property.objects.create(
        plug=thing.plug, name="setpoint", type="string", access="public", description=f"{MARK}-prop"
    )
    Property.objects.create(plug=controller.plug, name="setpoint", type="string", access="public")
    template = template_create(
        account=account, name=f"{MARK}-model", hwids=[("ALPHA-PROD-1", "enroll-pw", "ctl-pw")]
    )
    apiclient, apiclient_secret = apiclient_create(account=account, scope=["*"], name=f"{MARK}-client")
    user_key, user_secret = key_create(account=account, kind=ApiKey.Kind.USER)
    client = APIClient()
    headers = {"HTTP_X_PLUG_EMAIL": account.email, "HTTP_X_PLUG_MASTER": PASSWORD}
    for path, body in (
        ("/iot/data/alpha/room/temp", {"data": f"{MARK}-chan", "of": thing.plug.id}),
        ("/iot/data/alpha/room/temp", {"data": f"{MARK}-ctrl", "of": controller.plug.id}),
    ):
        assert (
            client.put(path, json.dumps(body), content_type="application/json", **headers).status_code == 200
        )
    for ref in (thing.plug.id, controller.plug.id):
        kind = "devices" if ref == thing.plug.id else "apps"
        response = client.post(
            f"/v3/data/{kind}/{ref}",
            {"temperature": f"{MARK}-temp", "setpoint": f"{MARK}-cmd"},  # a public property: a command
            format="json",
            **headers,
        )
        assert response.status_code == 200, response.content
    DeviceLogEntry.objects.create(plug=thing.plug, message=f"{MARK}-log")
    from commands.models import MqttSession

    MqttSession.objects.create(
        account=account, client_id=thing.plug.id, plug=thing.plug, subscriptions={"#": 1}
    )
    oid = DataPoint.objects.filter(account_id=account.id, channel="alpha/room/temp").values_list(
        "id", flat=True
    )[0]
    secrets = [thing.auth, controller.auth, apiclient_secret, user_secret, PASSWORD]
    profile = DeviceProfile.objects.create(
        account=account, name="alpha-profile", description=f"{MARK}-profile", vendor_name=f"{MARK}-vendor"
    )
    declared = ProfileProperty.objects.create(profile=profile, name="humidity", type="number", max=100)
    plug_profile_set(plug=thing.plug, profile=profile)
    assert Property.objects.filter(plug=thing.plug, inherited_from=declared).exists()
    user = User.objects.create(
        account=account, email="alpha-dev@example.com", role="developer", name=f"{MARK}-user"
    )
    dev_key, dev_secret = key_create(account=account, kind=ApiKey.Kind.USER)
    ApiKey.objects.filter(pk=dev_key.pk).update(user=user)
    secrets.append(dev_secret)
    sub = Account.objects.create(
        email="alpha-sub@example.com",
        parent=account,
        name=f"{MARK}-sub",
        password="!",  # unusable
    )
    # A public address (nothing is sent: no delivery runs in this test), its password a secret.
    connector = connector_create(
        app=controller.plug,
        body={
            "type": "mqtt",
            "url": "mqtt://alpha:alpha-broker-pw@93.184.215.14:1883",
            "topic": f"{MARK}-topic",
        },
    )
    secrets.append("alpha-broker-pw")
    alert = Alert.objects.create(
        account=account,
        owner_id=thing.plug.id,
        name="alpha-alert",
        description=f"{MARK}-alert",
        trigger="temperature",
        conditions=[{"severity": "critical", "expression": {"operation": "always"}, "handlers": []}],
    )
    incident = Incident.objects.create(account=account, alert=alert, plug=thing.plug, severity="critical")
    return Alpha(
        account,
        thing,
        controller,
        prop,
        apiclient,
        template.id,
        oid,
        secrets,
        profile,
        declared.id,
        user.id,
        sub.id,
        connector.id,
        alert.id,
        incident.id,
    )


def _bravo() -> Bravo:
    account = account_create(email="bravo@example.com", password="bravo master password")
    master = account.email, "bravo master password"
    thing = plug_create(account=account, name="bravo-thermo", hwid="BRAVO-HW")
    other = plug_create(account=account, name="bravo-other")
    controller = plug_create(account=account, name="bravo-ctrl", kind=Plug.Kind.CONTROLLER)
    Control.objects.create(controller=controller.plug, thing=thing.plug, rights="rw")
    Property.objects.create(plug=thing.plug, name="setpoint", type="string", access="public")
    gateway, gateway_secret = key_create(
        account=account, kind=ApiKey.Kind.DEVICE, plug=other.plug, context_ids=[thing.plug.id]
    )
    user, user_secret = key_create(account=account, kind=ApiKey.Kind.USER)
    bravo = Bravo(account, thing, controller)
    role_keys: dict[str, tuple[str, str]] = {}
    for role in ("developer",):  # (a viewer's key is a developer's with fewer scopes)
        role_user = User.objects.create(account=account, email=f"bravo-{role}@example.com", role=role)
        role_key, role_secret = key_create(account=account, kind=ApiKey.Kind.USER)
        ApiKey.objects.filter(pk=role_key.pk).update(user=role_user)
        role_keys[f"user key {role}"] = (role_key.id, role_secret)
    sub_reader, sub_reader_secret = apiclient_create(
        account=account, scope=["subaccount:read", "account:read"]
    )
    DeviceProfile.objects.create(account=account, name="bravo-profile")
    keys: dict[str, tuple[str, str]] = {
        "device key": (thing.key.id, thing.auth),
        "gateway key": (gateway.id, gateway_secret),
        "user key": (user.id, user_secret),
        **role_keys,
    }
    scopes = {"read": "device:read-data", "write": "device:write-data", "modify": "device:modify"}
    for context in ("account", "app", "devices"):
        for short, scope in scopes.items():
            where: dict[str, Any] = {"app": controller.plug} if context == "app" else {}
            if context == "devices":
                where["context_ids"] = [thing.plug.id]
            key, secret = apiclient_create(account=account, scope=[scope], context_type=context, **where)
            keys[f"api client {context} {short}"] = (key.id, secret)
    profile_key, profile_secret = apiclient_create(
        account=account, scope=["deviceprofile:read", "deviceprofile:modify"]
    )
    bravo.credentials = {
        "api client account deviceprofile": basic(profile_key.id, profile_secret),
        "master (X-Plug-Email/Master)": {"HTTP_X_PLUG_EMAIL": master[0], "HTTP_X_PLUG_MASTER": master[1]},
        "master (Basic)": basic(*master),
        "plug auth": {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_AUTH": thing.auth},
        "plug auth (Basic)": basic(thing.plug.id, thing.auth),
        "plug id + master": {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_MASTER": master[1]},
        "controller plug": {"HTTP_X_PLUG_ID": controller.plug.id, "HTTP_X_PLUG_AUTH": controller.auth},
        **{kind: basic(*pair) for kind, pair in keys.items()},
    }
    bravo.mqtt = {
        **keys,
        "plug id": (thing.plug.id, thing.auth),
        "controller plug": (controller.plug.id, controller.auth),
    }
    return bravo


def _foreign_forms(alpha: Alpha, bravo: Bravo) -> dict[str, dict[str, str]]:
    """B's secrets presented with A's plug id: refused, never A."""
    return {
        "A's plug id + B's master": {
            "HTTP_X_PLUG_ID": alpha.thing.plug.id,
            "HTTP_X_PLUG_MASTER": "bravo master password",
        },
        "A's plug id + B's plug auth (Basic)": basic(alpha.thing.plug.id, bravo.thing.auth),
    }


# --- A's rows, before and after -----------------------------------------------------------------


def _owned_by(model: type[models.Model], account_id: str) -> models.QuerySet[Any]:
    """The rows of `model` that belong to the account; a model this cannot place fails the test,
    so a new table is not left out of the snapshot."""
    if model is Account:  # the account and its sub-accounts
        return model.objects.filter(models.Q(pk=account_id) | models.Q(parent_id=account_id))
    if model is OutboxStream:  # an outbox stream belongs to its messages' account
        return model.objects.filter(
            id__in=OutboxMessage.objects.filter(account_id=account_id).values("stream_id")
        ).order_by("id")
    if model is OutboxTarget:  # the delivery counters of the account's connectors
        return model.objects.filter(
            target__in=DataConnector.objects.filter(account_id=account_id).values("id")
        )
    names = {f.name for f in model._meta.get_fields()}
    if "account" in names or "account_id" in names:
        return model.objects.filter(account_id=account_id)
    links = [
        f.name
        for f in model._meta.get_fields()
        if isinstance(f, models.ForeignKey) and f.related_model is not None and f.related_model is not model
    ]
    for link in links:
        related = model._meta.get_field(link).related_model
        if {f.name for f in related._meta.get_fields()} & {"account", "account_id"}:
            query = models.Q()
            for other in links:
                other_related = model._meta.get_field(other).related_model
                if {f.name for f in other_related._meta.get_fields()} & {"account", "account_id"}:
                    query |= models.Q(**{f"{other}__account_id": account_id})
            return model.objects.filter(query)
    raise AssertionError(f"{model.__name__}: no way to tell its account; teach _owned_by")


TENANT_MODELS = [
    m
    for m in apps.get_models()
    if m._meta.app_label in ("plugboard", "devices", "data", "commands", "outbound", "alerts")
    and not m._meta.abstract
    and m._meta.managed
]


def _snapshot(account_id: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        m.__name__: sorted(
            (
                tuple(json.dumps(v, sort_keys=True, default=str) for v in row)
                for row in _owned_by(m, account_id).values_list()
            ),
        )
        for m in TENANT_MODELS
    }


def _markers(alpha: Alpha, snapshot: dict[str, list[tuple[Any, ...]]]) -> set[str]:
    """Every id and every marked value among A's rows, A's email and A's secrets."""
    found = {alpha.account.email, *alpha.secrets}
    for rows in snapshot.values():
        for row in rows:
            for value in row:
                found.update(ID_RE.findall(value))
                found.update(re.findall(rf"{MARK}-\w+", value))
    return found


# --- the cells ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    route: Route
    method: str
    naming: str
    path: str
    query: dict[str, str]
    body: Any
    override: bool = False

    def label(self, credential: str) -> str:
        how = f"POST+override {self.method.upper()}" if self.override else self.method.upper()
        return f"{how} {self.route.template} [{self.naming}] by B's {credential}"


def _namings(route: Route, alpha: Alpha) -> Iterator[tuple[str, dict[str, str]]]:
    """Each way of naming A's resources in the route's path, one parameter varied at a time."""
    target = alpha.controller if "/apps/" in route.template else alpha.thing
    profile_refs = {
        "A's profile id": alpha.profile.id,
        "A's profile name": alpha.profile.name,
        "A's profile name, upper case": alpha.profile.name.upper(),
    }
    forms: dict[str, dict[str, str]] = {
        "acc": {
            "A's account id": alpha.account.id,
            "_this_": "_this_",
            "A's sub-account id": alpha.subaccount_id,
        },
        "ref": {
            "A's plug id": target.plug.id,
            "A's plug name": target.plug.name,
            "A's plug name, upper case": target.plug.name.upper(),
            "A's hwid": "ALPHA-HW",
            "_this_": "_this_",
        },
        "prp": {
            "A's property name": "setpoint",
            "A's property id": alpha.prop.id,
            "temperature": "temperature",
        },
        "key_id": {"A's API client key id": alpha.apiclient.id, "A's device key id": alpha.thing.key.id},
        "channel": {
            "A's channel": "alpha/room/temp",
            "mask alpha/+/temp": "alpha/+/temp",
            "mask alpha/#": "alpha/#",
            "mask #": "#",
            "mask +/+/+": "+/+/+",
        },
        "mask": {"A's channel": "alpha/room/temp", "mask alpha/#": "alpha/#", "mask +/room/+": "+/room/+"},
        "key": {"A's prop key": "label"},
        "user_id": {"A's user id": alpha.user_id},
        "connector_id": {"A's data connector id": alpha.connector_id},
        "alert_id": {"A's alert id": alpha.alert_id},
        "incident_id": {"A's incident id": alpha.incident_id},
    }
    if "/deviceprofiles/" in route.template:
        forms["ref"] = profile_refs
    if route.view == "PropertyByIdView":
        forms["prp"]["A's profile property id"] = alpha.profile_property_id
    default = {p: next(iter(forms[p].values())) for p in route.params}
    if not route.params:
        yield "no path parameter", {}
    # `/v3/accounts/{acc}/…` is the same view as `/v3/…`, whose namings are all tried there: here
    # the account is what varies.
    varied = ("acc",) if "acc" in route.params else route.params
    for param in varied:
        for naming, value in forms[param].items():
            if value == default[param] and param != varied[0]:
                continue  # the default of every parameter is yielded once, with the first
            yield naming, {**default, param: value}


def _payloads(route: Route, method: str, alpha: Alpha, bravo: Bravo) -> list[tuple[str, dict[str, str], Any]]:
    """(naming, query, body) for one operation: a body that would change A if it were allowed,
    and queries and bodies that name A's plugs and OIDs."""
    a_plug, a_ctrl = alpha.thing.plug.id, alpha.controller.plug.id
    view = route.view
    far = "2100-01-01T00:00:00Z"
    table: dict[tuple[str, str], list[tuple[str, dict[str, str], Any]]] = {
        ("DataView", "get"): [
            ("", {}, None),
            ("of=A's plug", {"of": a_plug}, None),
            ("id=A's OID", {"id": alpha.oid}, None),
            ("before=A's OID", {"before": alpha.oid, "of": a_plug}, None),
        ],
        ("DataView", "put"): [
            ("", {}, {"data": "bravo"}),
            ("of=A's plug in the body", {}, {"data": "bravo", "of": a_plug}),
            ("id=A's OID in the body", {}, {"data": "bravo", "id": alpha.oid, "of": a_plug}),
        ],
        ("DataView", "delete"): [
            ("id=A's OID in the body", {}, {"id": alpha.oid}),
            ("of=A's plug in the body", {}, {"of": a_plug, "before": far}),
            ("id=A's OID in the query", {"id": alpha.oid}, None),
        ],
        ("ChannelListView", "get"): [("", {}, None), ("of=A's plug", {"of": a_plug}, None)],
        ("DeviceEnrollmentView", "post"): [
            (
                "A's model, a wrong password",
                {},
                {"model": alpha.template_id, "hwid": "ALPHA-PROD-1", "pass": "x"},
            ),
            ("a prototype whose perm names A's plug", {}, {"name": "b-new", "perm": {"r": [a_plug]}}),
        ],
        ("DeviceEnrollmentView", "put"): [
            (
                "A's model and thing, a wrong password",
                {},
                {"model": alpha.template_id, "ctrl": a_plug, "pass": "x"},
            ),
        ],
        ("DeviceEnrollmentView", "delete"): [("A's plug id in the body", {}, [a_plug])],
        ("DeviceView", "patch"): [("", {}, {"name": "hijacked", "status": "disabled", "props": {"x": 1}})],
        ("DeviceView", "put"): [("", {}, {"name": "hijacked", "description": "bravo", "status": "disabled"})],
        ("DeviceView", "delete"): [("releasing A's thing", {}, {"controlled": [a_plug]})],
        ("DevicePropsView", "patch"): [("", {}, {"label": "bravo"})],
        ("DevicePropView", "patch"): [("", {}, "bravo")],
        ("DeviceDataView", "post"): [("", {}, {"setpoint": "bravo", "temperature": 1})],
        ("PropertiesFeedView", "post"): [("", {}, {"dps": [{"prop": "setpoint", "v": "bravo"}]})],
        ("PropertyDataView", "get"): [("", {"limit": "10"}, None)],
        ("PropertyDataView", "post"): [("", {}, {"dps": [{"v": "bravo"}]})],
        ("PropertyQueryView", "post"): [
            ("", {}, {"startRelative": {"value": 100, "unit": "years"}, "aggregators": [{"name": "count"}]})
        ],
        ("DeviceListView", "post"): [
            ("", {}, {"name": "b-new", "apps": [a_ctrl]}),
            ("profile=A's profile id", {}, {"name": "b-new", "profile": alpha.profile.id}),
            ("profileId=A's profile name", {}, {"name": "b-new", "profileId": alpha.profile.name}),
        ],
        ("ProfileListView", "post"): [
            ("baseProfile=A's profile id", {}, {"name": "b-new", "baseProfile": alpha.profile.id}),
            ("baseProfile=A's profile name", {}, {"name": "b-new", "baseProfile": alpha.profile.name}),
        ],
        ("ProfileDetailView", "put"): [("", {}, {"description": "bravo", "vendorName": "bravo"})],
        ("DevicePropertiesView", "post"): [("", {}, {"name": "bravo", "type": "number"})],
        ("OwnerPropertiesView", "get"): [
            ("owner=A's plug", {"owner": a_plug}, None),
            ("owner=A's profile id", {"owner": alpha.profile.id}, None),
            ("owner=A's profile name", {"owner": alpha.profile.name}, None),
        ],
        ("OwnerPropertiesView", "post"): [
            ("ownerId=A's plug", {}, {"name": "bravo", "type": "number", "ownerId": a_plug}),
            ("ownerId=A's profile", {}, {"name": "bravo", "type": "number", "ownerId": alpha.profile.id}),
            ("owner=A's profile name", {"owner": alpha.profile.name}, {"name": "bravo", "type": "number"}),
        ],
        ("SubaccountListView", "post"): [
            (
                "owner=A",
                {},
                {"name": "bravo", "user": {"email": "b-sub@example.com"}, "owner": alpha.account.id},
            ),
            (
                "A's sub-account as owner",
                {},
                {"name": "bravo", "user": {"email": "b2@example.com"}, "owner": alpha.subaccount_id},
            ),
            ("A's email", {}, {"name": "bravo", "user": {"email": "alpha@example.com"}}),
        ],
        ("ApiClientListView", "post"): [
            (
                "a key listing A's plug",
                {},
                {"scope": ["device:read-data"], "context": {"type": "devices", "ids": [a_plug]}},
            ),
            (
                "a key for A's app",
                {},
                {"scope": ["device:read-data"], "context": {"type": "app", "ids": [a_ctrl]}},
            ),
        ],
    }
    return table.get((view, method), [("", {}, {} if method in ("post", "put", "patch") else None)])


# Routes whose path names one of B's own plugs while the body names A's: the body is the attack.
B_REF_WITH_A_IN_BODY = {
    ("DeviceView", "patch"): lambda alpha: {"perm": {"r": [alpha.thing.plug.id], "w": [alpha.thing.plug.id]}},
    ("DeviceView", "delete"): lambda alpha: {"controlled": [alpha.thing.plug.id]},
    ("DeviceView", "put"): lambda alpha: {"apps": [alpha.controller.plug.id]},
    ("ProfileDetailView", "put"): lambda alpha: {"baseProfile": alpha.profile.id},
}


def _cells(alpha: Alpha, bravo: Bravo) -> list[Cell]:
    cells = []
    for route in ROUTES:
        for method in route.methods:
            for naming, params in _namings(route, alpha):
                path = route.template.format(**{k: quote(v, safe="/") for k, v in params.items()})
                for payload_naming, query, body in _payloads(route, method, alpha, bravo):
                    label = f"{naming}; {payload_naming}" if payload_naming else naming
                    cells.append(Cell(route, method, label, path, query, body))
            attack = B_REF_WITH_A_IN_BODY.get((route.view, method))
            if attack and "ref" in route.params:
                ref = (
                    bravo.controller.plug.id
                    if route.view == "DeviceView" and method == "delete"
                    else bravo.thing.plug.id
                )
                if route.view == "ProfileDetailView":
                    ref = DeviceProfile.objects.get(account=bravo.account, name="bravo-profile").id
                params = {p: ("_this_" if p == "acc" else ref) for p in route.params}
                cells.append(
                    Cell(
                        route,
                        method,
                        "B's own plug; A's plug in the body",
                        route.template.format(**params),
                        {},
                        attack(alpha),
                    )
                )
    # X-HTTP-Method-Override: every non-POST operation once more, as a POST, on its first naming.
    first = {}
    for cell in cells:
        first.setdefault((cell.route, cell.method), cell)
    for cell in list(first.values()):
        if cell.method != "post":
            cells.append(Cell(cell.route, cell.method, cell.naming, cell.path, cell.query, cell.body, True))
    return cells


ALLOWED_REFUSALS = {400, 401, 403, 404, 405, 409, 413, 429}


def _send(client: APIClient, cell: Cell, headers: dict[str, str]) -> Any:
    path = cell.path + ("?" + urlencode(cell.query) if cell.query else "")
    kwargs: dict[str, Any] = dict(headers)
    if cell.body is not None:
        kwargs.update(data=json.dumps(cell.body), content_type="application/json")
    if cell.override:
        return client.post(path, HTTP_X_HTTP_METHOD_OVERRIDE=cell.method.upper(), **kwargs)
    return getattr(client, cell.method)(path, **kwargs)


class Rollback(Exception):
    pass


class Writes:
    """Whether a cell wrote anything: only then can A's rows have changed, so only then are they
    compared (a snapshot costs more than most cells' request)."""

    WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|COPY|MERGE)\b", re.IGNORECASE)

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.WRITE.match(sql):
            self.seen = True
        return execute(sql, params, many, context)


# ~16,000 cells take about 100 s on a shared 2-core machine: more than the suite's default timeout.
@pytest.mark.timeout(600)
def test_no_credential_of_b_reaches_anything_of_a_over_http(db: None, record_property: Any) -> None:
    alpha, bravo = _alpha(), _bravo()
    credentials = {**bravo.credentials, **_foreign_forms(alpha, bravo)}
    before = _snapshot(alpha.account.id)
    markers = _markers(alpha, before)
    assert alpha.thing.plug.id in markers and f"{MARK}-chan" in markers and alpha.oid in markers
    client = APIClient()
    cells = _cells(alpha, bravo)
    for cell in cells:  # every path the matrix sends resolves to the route it stands for
        assert resolve(cell.path).func.view_class.__name__ == cell.route.view, cell.path  # type: ignore[attr-defined]

    leaks: list[str] = []
    statuses: dict[int, int] = {}
    for cell in cells:
        for credential, headers in credentials.items():
            try:
                writes = Writes()
                with transaction.atomic(), connection.execute_wrapper(writes):
                    response = _send(client, cell, headers)
                    status = response.status_code
                    statuses[status] = statuses.get(status, 0) + 1
                    # an export streams its rows: read them all, a leak may sit in any chunk
                    raw = (
                        b"".join(response.streaming_content)  # type: ignore[attr-defined]
                        if response.streaming
                        else response.content
                    )
                    body = raw.decode(errors="replace")
                    if status >= 500 or (status >= 300 and status not in ALLOWED_REFUSALS):
                        leaks.append(f"{cell.label(credential)}: {status} {body[:200]}")
                    elif status < 300:
                        seen = sorted(m for m in markers if m in body)
                        if seen:
                            leaks.append(
                                f"{cell.label(credential)}: {status} shows A's {seen[:3]}: {body[:200]}"
                            )
                    if writes.seen and _snapshot(alpha.account.id) != before:
                        leaks.append(f"{cell.label(credential)}: {status} changed A's rows")
                    raise Rollback
            except Rollback:
                pass
            if status in (401, 429):
                cache.clear()  # the failure budgets start afresh: no cell is refused for the ones before
    count = len(cells) * len(credentials)
    record_property("http_matrix_cells", count)
    print(
        f"\nHTTP authorization matrix: {len(ROUTES)} routes, {len(cells)} requests"
        f" × {len(credentials)} credentials = {count} cells; statuses {dict(sorted(statuses.items()))}"
    )
    assert not leaks, f"{len(leaks)} of {count} cells:\n" + "\n".join(leaks[:60])
    assert _snapshot(alpha.account.id) == before


# --- MQTT -----------------------------------------------------------------------------------------


@pytest.fixture
def mqtt_world(
    transactional_db: None, start_server: Callable[..., Any]
) -> Iterator[tuple[Any, Alpha, Bravo]]:
    alpha, bravo = _alpha(), _bravo()
    yield start_server(), alpha, bravo


def _client_id(bravo: Bravo, kind: str, username: str) -> str:
    """A client id B may use with that credential: its plug's id, or a free-form one."""
    if username.startswith("dev-"):
        return username
    key = ApiKey.objects.get(id=username)
    return key.plug_id if key.kind == ApiKey.Kind.DEVICE else f"bravo-{kind.replace(' ', '-')}"


def _a_device(server: Any, alpha: Alpha) -> Any:
    """A's thing, connected with a persistent session and subscribed to its commands."""
    from tests.commands.mqtt.clients import connect_device

    device = connect_device(server, alpha.thing, clean=False)
    device.client.subscribe(f"csipio/data/in/devices/{alpha.thing.plug.id}/properties/#", qos=1)
    assert wait_for(lambda: device.subacks) == [[1]]
    return device


def _a_is_undisturbed(server: Any, alpha: Alpha, device: Any, before: Any) -> None:
    from tests.commands.mqtt.clients import connect_device

    assert not device.disconnected.is_set(), "A's live connection was closed"
    alive = device.client.publish(
        f"csipio/data/out/devices/{alpha.thing.plug.id}/properties/alive", "1", qos=1
    )
    alive.wait_for_publish(timeout=10)
    assert alive.is_published(), "A's connection no longer answers"
    device.stop()
    assert wait_for(lambda: not Plug.objects.get(id=alpha.thing.plug.id).connected)
    again = connect_device(server, alpha.thing, clean=False)
    try:
        assert again.session_present == [True], "A's persistent session is gone"
    finally:
        again.stop()
    after = _snapshot(alpha.account.id)
    # A's own publish and reconnect changed these (its point, what derives from it: the journal,
    # the latest value, the connector's outbox rows, the rollups' marks, the device's activity)
    for table in (
        "DataPoint",
        "JournalEntry",
        "Plug",
        "MqttSession",
        "Property",
        "OutboxMessage",
        "OutboxStream",
        "RollupMark",
        "Rollup",
        "DeviceActivity",
    ):
        after.pop(table), before.pop(table)
    assert after == before


class Intruder:
    """B over a raw TCP socket: exact CONNACK and SUBACK bytes, and no client library's
    reconnect or shutdown delays in the way."""

    def __init__(
        self, server: Any, client_id: str, username: str, password: str, *, clean: bool = True
    ) -> None:
        from commands.mqtt.protocol.packets import encode_connect

        self.sock = socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=10)
        connect = encode_connect(
            client_id, clean_session=clean, keepalive=25, username=username, password=password.encode()
        )
        self.sock.sendall(connect)
        self.connack = self._read(4)

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def suback(self, filters: list[str]) -> list[int]:
        from commands.mqtt.protocol.packets import encode_subscribe

        self.sock.sendall(encode_subscribe(1, [(f, 1) for f in filters]))
        head = self._read(2)
        assert head[:1] == b"\x90", head
        body = self._read(head[1])
        assert body[:2] == b"\x00\x01", body
        return list(body[2:])

    def publish_is_answered_by_a_close(self, topic: str, payload: bytes) -> bool:
        from commands.mqtt.protocol.packets import encode_publish

        self.sock.sendall(encode_publish(topic, payload, qos=1, packet_id=7))
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
                if chunk[:1] == b"\x40":  # a PUBACK: the publish was taken
                    return False
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


CONNACK_NOT_AUTHORIZED = b"\x20\x02\x00\x05"
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"


def test_b_connecting_with_a_plug_id_of_a_is_refused_and_a_keeps_its_session(
    mqtt_world: tuple[Any, Alpha, Bravo],
) -> None:
    server, alpha, bravo = mqtt_world
    device = _a_device(server, alpha)
    before = _snapshot(alpha.account.id)
    answers = {}
    for kind, (username, password) in bravo.mqtt.items():
        for clean in (True, False):
            intruder = Intruder(server, alpha.thing.plug.id, username, password, clean=clean)
            answers[f"{kind}, clean={clean}"] = intruder.connack
            intruder.close()
    print(f"\nMQTT CONNECT with A's client id: {len(answers)} cells")
    assert answers == dict.fromkeys(answers, CONNACK_NOT_AUTHORIZED)
    _a_is_undisturbed(server, alpha, device, before)


def test_b_subscribing_to_a_topics_gets_suback_0x80(mqtt_world: tuple[Any, Alpha, Bravo]) -> None:
    server, alpha, bravo = mqtt_world
    a_plug = alpha.thing.plug.id
    filters = [
        f"{a_plug}/data/#",
        f"{alpha.account.id}/data/#",
        f"{a_plug}/data/alpha/+/temp",
        f"csipio/data/in/devices/{a_plug}/properties/#",
        f"connio/data/in/devices/{a_plug}/properties/#",
        f"csipio/data/in/devices/{a_plug}/properties/setpoint",
        # A's device mirrors (SPEC §13), under A's account name, by id, name, `+` and app.
        f"{alpha.account.email}/devices/{a_plug}/properties/#",
        f"{alpha.account.email}/devices/alpha-thermo/properties/setpoint",
        f"{alpha.account.email}/devices/+/properties/#",
        f"{alpha.account.email}/apps/alpha-ctrl/devices/#",
    ]
    answers = {}
    for kind, (username, password) in bravo.mqtt.items():
        intruder = Intruder(server, _client_id(bravo, kind, username), username, password)
        try:
            assert intruder.connack == CONNACK_ACCEPTED, kind
            answers[kind] = intruder.suback(filters)
        finally:
            intruder.close()
    print(f"\nMQTT SUBSCRIBE to A's topics: {len(answers) * len(filters)} cells")
    assert answers == dict.fromkeys(answers, [0x80] * len(filters))


def test_b_publishing_to_a_device_topics_is_disconnected(mqtt_world: tuple[Any, Alpha, Bravo]) -> None:
    server, alpha, bravo = mqtt_world
    a_plug = alpha.thing.plug.id
    topics = {
        f"csipio/data/out/devices/{a_plug}/properties/setpoint": b'"bravo"',
        f"connio/data/out/devices/{a_plug}/properties/setpoint": b'"bravo"',
        f"csipio/data/out/devices/{a_plug}/json": json.dumps(
            {"dps": [{"prop": "setpoint", "v": "b"}]}
        ).encode(),
        f"{a_plug}/data/alpha/room/temp": json.dumps({"data": "bravo"}).encode(),
        f"{alpha.account.email}/devices/{a_plug}/properties/setpoint": b'"bravo"',  # a mirror
    }
    before = _snapshot(alpha.account.id)
    kept_open = []
    for kind, (username, password) in bravo.mqtt.items():
        for topic, payload in topics.items():
            intruder = Intruder(server, _client_id(bravo, kind, username), username, password)
            try:
                assert intruder.connack == CONNACK_ACCEPTED, kind
                if not intruder.publish_is_answered_by_a_close(topic, payload):
                    kept_open.append(f"{kind} → {topic}")
            finally:
                intruder.close()
    print(f"\nMQTT PUBLISH to A's device topics: {len(bravo.mqtt) * len(topics)} cells")
    assert wait_for(lambda: not Plug.objects.filter(connected=True).exists())
    assert _snapshot(alpha.account.id) == before
    assert not kept_open, kept_open
