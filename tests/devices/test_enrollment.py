"""Enrollment of the channel dialect (SPEC §5 `device` rows): things, prototypes, controllers,
unenrollment — driven through `/iot/device` as the official CloudPlugs clients call it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from rest_framework.test import APIClient

from devices.models import Control, Plug, ProductionTemplate, TemplateHwid
from devices.services.plugs import Enrolled, template_create
from plugboard.models import ApiKey
from tests.conftest import Tenant, basic, plug_headers

ENROLL_PW = "enroll-secret"
CTRL_PW = "control-secret"


@pytest.fixture(autouse=True)
def _fast_hashes(settings: Any) -> None:
    # Production-strength PBKDF2 costs ~0.5 s a hash; each template here holds six.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def send(api: APIClient, method: str, url: str, body: Any = None, **headers: str) -> Any:
    """A request with a JSON body, the way the JS client sends it (whatever the method)."""
    data = json.dumps(body) if body is not None else None
    return getattr(api, method)(url, data=data, content_type="application/json", **headers)


@pytest.fixture
def model(tenant: Tenant) -> ProductionTemplate:
    template = template_create(
        account=tenant.account,
        name="thermo-v2",
        hwids=[("SN-100", ENROLL_PW, CTRL_PW), ("SN-101", ENROLL_PW, None), ("SN-102", ENROLL_PW, CTRL_PW)],
    )
    template.props = {"vendor": "acme", "fw": "1.0"}
    template.perm = {"of": {"r": [], "w": []}, "ctrl": "r"}
    template.save()
    return template


def enroll_thing(api: APIClient, model: ProductionTemplate, hwid: str = "SN-100", **extra: Any) -> Any:
    return send(api, "post", "/iot/device", {"model": model.id, "hwid": hwid, "pass": ENROLL_PW, **extra})


# --- production things ---------------------------------------------------------------------------


def test_production_thing_enrolls_without_credentials(api: APIClient, model: ProductionTemplate) -> None:
    response = enroll_thing(api, model, props={"room": "kitchen"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "auth"}
    plug = Plug.objects.get(id=body["id"])
    entry = TemplateHwid.objects.get(template=model, hwid="SN-100")
    assert (plug.kind, plug.origin, plug.template_id, plug.hwid) == (
        "thing",
        "production",
        model.id,
        "SN-100",
    )
    assert plug.account_id == model.account_id
    assert plug.control_password == entry.control_password  # the hash is copied, not re-hashed
    assert check_password(CTRL_PW, plug.control_password)
    assert plug.props == {"vendor": "acme", "fw": "1.0", "room": "kitchen"}
    assert plug.perm["ctrl"] == "r"
    assert entry.plug_id == plug.id
    # The answer's auth is the plug's credential.
    me = api.get(f"/iot/device/{plug.id}", HTTP_X_PLUG_ID=plug.id, HTTP_X_PLUG_AUTH=body["auth"])
    assert me.status_code == 200
    assert me.json()["model"] == model.id


def test_enrolling_the_same_hwid_again_returns_the_same_id_with_a_new_auth(
    api: APIClient, model: ProductionTemplate
) -> None:
    first = enroll_thing(api, model).json()
    second = enroll_thing(api, model).json()

    assert second["id"] == first["id"]
    assert second["auth"] != first["auth"]
    assert Plug.objects.filter(hwid="SN-100").count() == 1
    old = api.get(f"/iot/device/{first['id']}", HTTP_X_PLUG_ID=first["id"], HTTP_X_PLUG_AUTH=first["auth"])
    new = api.get(f"/iot/device/{first['id']}", HTTP_X_PLUG_ID=first["id"], HTTP_X_PLUG_AUTH=second["auth"])
    assert old.status_code == 401
    assert new.status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"pass": "wrong"}, {"hwid": "SN-999"}, {"model": "mod-" + "0" * 24}, {"model": "dev-" + "0" * 24}],
    ids=["pass", "hwid", "model", "not-a-model"],
)
def test_wrong_model_hwid_or_pass_is_the_same_401(
    api: APIClient, model: ProductionTemplate, change: dict[str, str]
) -> None:
    body = {"model": model.id, "hwid": "SN-100", "pass": ENROLL_PW, **change}

    response = send(api, "post", "/iot/device", body)

    assert response.status_code == 401
    assert response.json() == {"err": 401, "msg": "invalid model, hwid or password"}
    assert not Plug.objects.filter(hwid="SN-100").exists()


def test_enrollment_failures_count_toward_the_rate_limit(api: APIClient, model: ProductionTemplate) -> None:
    for _ in range(20):
        assert enroll_thing(api, model, **{"pass": "guess"}).status_code == 401

    response = enroll_thing(api, model)  # even the right password now waits

    assert response.status_code == 429
    assert response.json()["err"] == 429
    other = APIClient(REMOTE_ADDR="10.9.9.9")  # another address is not affected
    assert enroll_thing(other, model).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"model": "mod-x", "hwid": "SN-100"},
        {"model": 5, "hwid": "SN-100", "pass": ENROLL_PW},
        {"model": "mod-x", "hwid": ["SN-100"], "pass": ENROLL_PW},
        {"model": "mod-x", "hwid": "SN-100", "pass": ""},
        ["model"],
        "mod-x",
    ],
)
def test_malformed_production_enrollment_is_a_400(api: APIClient, body: Any) -> None:
    response = send(api, "post", "/iot/device", body)

    assert response.status_code == 400
    assert set(response.json()) == {"err", "msg"}


def test_production_props_must_be_an_object(api: APIClient, model: ProductionTemplate) -> None:
    response = enroll_thing(api, model, props=["x"])

    assert response.status_code == 400
    assert not Plug.objects.filter(hwid="SN-100").exists()


def test_a_disabled_thing_cannot_re_enroll(api: APIClient, model: ProductionTemplate) -> None:
    first = enroll_thing(api, model).json()
    Plug.objects.filter(id=first["id"]).update(status="disabled")

    assert enroll_thing(api, model).status_code == 403


def test_enrolling_with_post_only_method_override(api: APIClient, model: ProductionTemplate) -> None:
    body = {"model": model.id, "ctrl": "SN-100", "pass": CTRL_PW}
    enroll_thing(api, model)

    response = send(api, "post", "/iot/device", body, HTTP_X_HTTP_METHOD_OVERRIDE="PUT")

    assert response.status_code == 201
    assert Plug.objects.get(id=response.json()["id"]).kind == "controller"


# --- prototypes ------------------------------------------------------------------------------------


def _account_credentials(tenant: Tenant) -> dict[str, dict[str, str]]:
    key_id, secret = tenant.user_key()
    return {
        "headers": tenant.master_headers(),
        "basic": basic(tenant.email, tenant.password),
        "user-key": basic(key_id, secret),
    }


@pytest.mark.parametrize("form", ["headers", "basic", "user-key"])
def test_account_enrolls_a_prototype(api: APIClient, tenant: Tenant, form: str) -> None:
    headers = _account_credentials(tenant)[form]
    body = {"name": "Proto-1", "hwid": "P-1", "pass": CTRL_PW, "perm": {"ctrl": "r"}, "props": {"a": 1}}

    response = send(api, "post", "/iot/device", body, **headers)

    assert response.status_code == 200
    assert set(response.json()) == {"id", "auth"}
    plug = Plug.objects.get(id=response.json()["id"])
    assert (plug.name, plug.hwid, plug.kind, plug.origin) == ("Proto-1", "P-1", "thing", "prototype")
    assert plug.account_id == tenant.account.id
    assert plug.perm["ctrl"] == "r"
    assert plug.props == {"a": 1}
    assert check_password(CTRL_PW, plug.control_password)
    assert ApiKey.objects.filter(plug=plug, kind="device").count() == 1


def test_a_prototype_without_hwid_gets_a_random_one(api: APIClient, tenant: Tenant) -> None:
    a = send(api, "post", "/iot/device", {"name": "a"}, **tenant.master_headers()).json()
    b = send(api, "post", "/iot/device", {"name": "b"}, **tenant.master_headers()).json()

    hwids = {Plug.objects.get(id=a["id"]).hwid, Plug.objects.get(id=b["id"]).hwid}
    assert len(hwids) == 2
    assert all(hwids)


def test_prototype_enrollment_needs_account_credentials(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    anonymous = send(api, "post", "/iot/device", {"name": "p"})
    as_plug = send(api, "post", "/iot/device", {"name": "p"}, **plug_headers(thing))

    assert anonymous.status_code == 401
    assert as_plug.status_code == 403
    assert as_plug.json()["err"] == 403
    assert not Plug.objects.filter(name="p").exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"name": ""}, 400),
        ({"name": "9lives"}, 400),
        ({"name": "has space"}, 400),
        ({"name": "x" * 65}, 400),
        ({"name": 12}, 400),
        ({"name": "ok", "hwid": 5}, 400),
        ({"name": "ok", "perm": "rw"}, 400),
        ({"name": "ok", "perm": {"ctrl": "x"}}, 400),
        ({"name": "ok", "perm": {"of": {"r": "all"}}}, 400),
        ({"name": "ok", "props": [1]}, 400),
        ({"name": "ok", "props": {"location": {"x": 200, "y": 0}}}, 400),
        ({"name": "THERMOSTAT"}, 409),
    ],
)
def test_bad_prototype_is_refused(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: dict[str, Any], status: int
) -> None:
    count = Plug.objects.count()

    response = send(api, "post", "/iot/device", body, **tenant.master_headers())

    assert response.status_code == status
    assert set(response.json()) == {"err", "msg"}
    assert Plug.objects.count() == count


# --- controllers -------------------------------------------------------------------------------------


@pytest.fixture
def product(api: APIClient, model: ProductionTemplate) -> Plug:
    return Plug.objects.get(id=enroll_thing(api, model).json()["id"])


def take_control(api: APIClient, model_id: str, ctrl: str, password: str = CTRL_PW, **extra: Any) -> Any:
    headers = {k: v for k, v in extra.items() if k.startswith("HTTP_")}
    body = {"model": model_id, "ctrl": ctrl, "pass": password}
    body.update({k: v for k, v in extra.items() if not k.startswith("HTTP_")})
    return send(api, "put", "/iot/device", body, **headers)


def test_controller_enrolls_without_credentials(
    api: APIClient, model: ProductionTemplate, product: Plug
) -> None:
    response = take_control(api, model.id, "SN-100", hwid="PHONE-1", name="my-phone")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "auth"}
    controller = Plug.objects.get(id=body["id"])
    assert (controller.kind, controller.origin, controller.hwid, controller.name) == (
        "controller",
        "production",
        "PHONE-1",
        "my-phone",
    )
    assert controller.account_id == product.account_id
    control = Control.objects.get(controller=controller)
    assert control.thing_id == product.id
    assert control.rights == "r"  # the thing's perm.ctrl
    info = api.get(
        f"/iot/device/{controller.id}", HTTP_X_PLUG_ID=controller.id, HTTP_X_PLUG_AUTH=body["auth"]
    )
    assert info.json()["ctrl"] == [product.id]


def test_controller_takes_control_of_another_thing_with_its_own_credentials(
    api: APIClient, model: ProductionTemplate, product: Plug
) -> None:
    second = Plug.objects.get(id=enroll_thing(api, model, hwid="SN-102").json()["id"])
    first = take_control(api, model.id, "SN-100").json()
    creds = {"HTTP_X_PLUG_ID": first["id"], "HTTP_X_PLUG_AUTH": first["auth"]}

    response = take_control(api, model.id, "SN-102", **creds)
    again = take_control(api, model.id, "SN-102", **creds)

    assert response.status_code == 200
    # The same controller and its unchanged auth: the JS client adopts whatever `auth` it gets.
    assert response.json() == {"id": first["id"], "auth": first["auth"]}
    assert again.status_code == 200
    assert set(Control.objects.filter(controller_id=first["id"]).values_list("thing_id", flat=True)) == {
        product.id,
        second.id,
    }
    assert Plug.objects.filter(kind="controller").count() == 1


def test_controller_of_a_prototype(api: APIClient, tenant: Tenant) -> None:
    proto = send(
        api,
        "post",
        "/iot/device",
        {"name": "proto", "hwid": "P-9", "pass": CTRL_PW},
        **tenant.master_headers(),
    ).json()

    response = take_control(api, proto["id"], "P-9")

    assert response.status_code == 201
    assert Control.objects.filter(
        controller_id=response.json()["id"], thing_id=proto["id"], rights="rw"
    ).exists()


@pytest.mark.parametrize(
    ("model_id", "ctrl", "password"),
    [
        (None, "SN-100", "wrong"),
        (None, "SN-999", CTRL_PW),
        ("mod-" + "1" * 24, "SN-100", CTRL_PW),
        (None, "SN-101", "anything"),
    ],
)
def test_wrong_control_password_is_a_401(
    api: APIClient, model: ProductionTemplate, product: Plug, model_id: str | None, ctrl: str, password: str
) -> None:
    enroll_thing(api, model, hwid="SN-101")

    response = take_control(api, model_id or model.id, ctrl, password)

    assert response.status_code == 401
    assert response.json() == {"err": 401, "msg": "invalid model, hwid or password"}
    assert not Plug.objects.filter(kind="controller").exists()


def test_a_thing_that_refuses_controllers_is_a_403(
    api: APIClient, model: ProductionTemplate, product: Plug
) -> None:
    Plug.objects.filter(id=product.id).update(perm={"of": {"r": [], "w": []}, "ctrl": ""})

    assert take_control(api, model.id, "SN-100").status_code == 403
    assert not Control.objects.exists()


def test_a_thing_cannot_take_control(
    api: APIClient, model: ProductionTemplate, product: Plug, thing: Enrolled
) -> None:
    response = take_control(api, model.id, "SN-100", **plug_headers(thing))

    assert response.status_code == 403
    assert not Control.objects.exists()


def test_a_controller_never_controls_another_accounts_thing(
    api: APIClient, model: ProductionTemplate, product: Plug, other_tenant: Tenant
) -> None:
    foreign = other_tenant.plug("remote", kind="controller")

    response = take_control(api, model.id, "SN-100", **plug_headers(foreign))

    assert response.status_code == 403
    assert not Control.objects.exists()


def test_control_failures_count_toward_the_rate_limit(
    api: APIClient, model: ProductionTemplate, product: Plug
) -> None:
    for _ in range(20):
        assert take_control(api, model.id, "SN-100", "guess").status_code == 401

    assert take_control(api, model.id, "SN-100").status_code == 429


def test_controller_name_clash_is_a_409(
    api: APIClient, model: ProductionTemplate, product: Plug, thing: Enrolled
) -> None:
    response = take_control(api, model.id, "SN-100", name="Thermostat")

    assert response.status_code == 409
    assert not Control.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"model": "mod-x", "ctrl": "SN-100"}, {"model": "mod-x", "ctrl": 1, "pass": "p"}, [1], None],
)
def test_malformed_controller_enrollment_is_a_400(api: APIClient, body: Any) -> None:
    response = send(api, "put", "/iot/device", body)

    assert response.status_code == 400
    assert set(response.json()) == {"err", "msg"}


# --- unenrollment -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["string", "csv", "array"])
def test_account_unenrolls_its_plugs(api: APIClient, tenant: Tenant, shape: str) -> None:
    a, b = tenant.plug("a"), tenant.plug("b")
    ids = [a.plug.id, b.plug.id] if shape != "string" else [a.plug.id]
    body: Any = {"string": ids[0], "csv": ",".join(ids), "array": ids}[shape]

    response = send(api, "delete", "/iot/device", body, **tenant.master_headers())

    assert response.status_code == 200
    assert response.json() == len(ids)
    assert not Plug.objects.filter(id__in=ids).exists()
    assert not ApiKey.objects.filter(plug_id__in=ids).exists()


def test_a_plug_unenrolls_only_itself(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    sibling = tenant.plug("sibling")

    # As the JS client's unenroll(): the body is the JSON string of its own id.
    response = send(api, "delete", "/iot/device", [thing.plug.id, sibling.plug.id], **plug_headers(thing))

    assert response.status_code == 200
    assert response.json() == 1
    assert not Plug.objects.filter(id=thing.plug.id).exists()
    assert Plug.objects.filter(id=sibling.plug.id).exists()


def test_another_accounts_plugs_are_not_counted_nor_deleted(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    mine = tenant.plug("mine")

    response = send(
        api, "delete", "/iot/device", [thing.plug.id, "dev-" + "f" * 24], **other_tenant.master_headers()
    )
    own = send(api, "delete", "/iot/device", f"{mine.plug.id},dev-{'e' * 24}", **tenant.master_headers())

    assert response.json() == 0
    assert Plug.objects.filter(id=thing.plug.id).exists()
    assert own.json() == 1


@pytest.mark.parametrize("body", [None, {}, {"id": "dev-x"}, [1, 2], "", " , ", 7])
def test_unenroll_needs_plug_ids(api: APIClient, tenant: Tenant, thing: Enrolled, body: Any) -> None:
    response = send(api, "delete", "/iot/device", body, **tenant.master_headers())

    assert response.status_code == 400
    assert Plug.objects.filter(id=thing.plug.id).exists()


def test_unenroll_needs_credentials(api: APIClient, thing: Enrolled) -> None:
    response = send(api, "delete", "/iot/device", thing.plug.id)

    assert response.status_code == 401
    assert Plug.objects.filter(id=thing.plug.id).exists()


def test_an_unenrolled_production_thing_can_enroll_again(
    api: APIClient, model: ProductionTemplate, product: Plug, tenant: Tenant
) -> None:
    send(api, "delete", "/iot/device", product.id, **tenant.master_headers())

    response = enroll_thing(api, model)

    assert response.status_code == 200
    assert response.json()["id"] != product.id
