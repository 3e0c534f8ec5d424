"""Plug management of the channel dialect: `GET/PATCH device/{id}`, props one key at a time,
`location`, release of control, and who may do what (SPEC §3, §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.models import Control, Plug
from devices.services.plugs import Enrolled
from tests.conftest import Tenant, plug_headers

DEVICE_FIELDS = {
    "id",
    "name",
    "hwid",
    "kind",
    "origin",
    "status",
    "perm",
    "props",
    "model",
    "ctrl",
    "connected",
    "last_seen",
    "transport",
    "date_created",
}


@pytest.fixture(autouse=True)
def _fast_hashes(settings: Any) -> None:
    # Production-strength PBKDF2 costs ~0.5 s a hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def send(api: APIClient, method: str, url: str, body: Any = None, **headers: str) -> Any:
    if method == "get":
        return api.get(url, **headers)
    data = json.dumps(body) if body is not None else None
    return getattr(api, method)(url, data=data, content_type="application/json", **headers)


@pytest.fixture
def controller(tenant: Tenant, thing: Enrolled) -> Enrolled:
    enrolled = tenant.plug("remote", kind="controller")
    Control.objects.create(controller=enrolled.plug, thing=thing.plug, rights="r")
    return enrolled


# --- GET device/{id} ---------------------------------------------------------------------------------


def test_account_reads_a_plug(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    response = api.get(f"/iot/device/{thing.plug.id}", **tenant.master_headers())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEVICE_FIELDS
    assert body["id"] == thing.plug.id
    assert (body["name"], body["hwid"], body["kind"], body["origin"], body["status"]) == (
        "thermostat",
        "SN-1",
        "thing",
        "prototype",
        "ok",
    )
    assert body["perm"] == {"of": {"r": [], "w": []}, "ctrl": "rw"}
    assert body["model"] is None
    assert body["ctrl"] == []
    assert body["connected"] is False
    assert body["last_seen"] is None
    assert body["transport"] is None
    assert isinstance(body["date_created"], int)


def test_a_plug_reads_itself_in_few_queries(
    api: APIClient, thing: Enrolled, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(3):
        response = api.get(f"/iot/device/{thing.plug.id}", **plug_headers(thing))

    assert response.status_code == 200
    assert response.json()["id"] == thing.plug.id


def test_a_controller_reads_its_thing_and_lists_what_it_controls(
    api: APIClient, thing: Enrolled, controller: Enrolled
) -> None:
    of_thing = api.get(f"/iot/device/{thing.plug.id}", **plug_headers(controller))
    of_itself = api.get(f"/iot/device/{controller.plug.id}", **plug_headers(controller))

    assert of_thing.status_code == 200
    assert of_itself.json()["ctrl"] == [thing.plug.id]
    assert of_itself.json()["kind"] == "controller"


def test_a_plug_without_rights_on_a_sibling_gets_403(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    sibling = tenant.plug("sibling")

    response = api.get(f"/iot/device/{sibling.plug.id}", **plug_headers(thing))

    assert response.status_code == 403
    assert response.json()["err"] == 403


def test_another_accounts_plug_is_a_404(api: APIClient, other_tenant: Tenant, thing: Enrolled) -> None:
    intruder = other_tenant.master_headers()
    for method in ("get", "patch", "delete"):
        response = send(api, method, f"/iot/device/{thing.plug.id}", {"name": "x"}, **intruder)
        assert response.status_code == 404, method
        assert response.json()["err"] == 404
    assert api.get(f"/iot/device/{thing.plug.id}/", **other_tenant.master_headers()).status_code == 404
    assert api.get(f"/iot/device/{thing.plug.id}/a", **other_tenant.master_headers()).status_code == 404
    assert Plug.objects.get(id=thing.plug.id).name == "thermostat"


# --- PATCH device/{id} -----------------------------------------------------------------------------------


def test_account_patches_name_perm_status_and_props(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    Plug.objects.filter(id=thing.plug.id).update(props={"keep": 1, "drop": 2})
    body = {
        "name": "Boiler",
        "perm": {"of": {"r": None}, "ctrl": "r"},
        "status": "debug",
        "props": {"drop": None, "new": [1, 2]},
        "unknown": "ignored",
    }

    response = send(api, "patch", f"/iot/device/{thing.plug.id}", body, **tenant.master_headers())

    assert response.status_code == 200
    got = response.json()
    assert (got["name"], got["status"]) == ("Boiler", "debug")
    assert got["perm"] == {"of": {"r": None, "w": []}, "ctrl": "r"}
    assert got["props"] == {"keep": 1, "new": [1, 2]}
    plug = Plug.objects.get(id=thing.plug.id)
    assert (plug.name, plug.status, plug.props) == ("Boiler", "debug", {"keep": 1, "new": [1, 2]})


def test_a_plug_patches_itself_but_not_its_status_or_reach(api: APIClient, thing: Enrolled) -> None:
    url = f"/iot/device/{thing.plug.id}"

    renamed = send(api, "patch", url, {"name": "renamed", "props": {"a": 1}}, **plug_headers(thing))
    status = send(api, "patch", url, {"status": "debug"}, **plug_headers(thing))
    reach = send(api, "patch", url, {"perm": {"of": {"r": None}}}, **plug_headers(thing))
    same_status = send(api, "patch", url, {"status": "ok"}, **plug_headers(thing))

    assert renamed.status_code == 200
    assert status.status_code == 403
    assert reach.status_code == 403
    assert same_status.status_code == 200
    plug = Plug.objects.get(id=thing.plug.id)
    assert (plug.name, plug.status, plug.props, plug.perm["of"]["r"]) == ("renamed", "ok", {"a": 1}, [])


def test_a_new_perm_ctrl_applies_to_existing_controllers(
    api: APIClient, thing: Enrolled, controller: Enrolled
) -> None:
    response = send(
        api, "patch", f"/iot/device/{thing.plug.id}", {"perm": {"ctrl": ""}}, **plug_headers(thing)
    )

    assert response.status_code == 200
    assert response.json()["perm"]["of"] == {"r": [], "w": []}  # untouched parts are kept
    assert Control.objects.get(controller=controller.plug).rights == ""
    assert api.get(f"/iot/device/{thing.plug.id}", **plug_headers(controller)).status_code == 403


def test_a_controller_may_read_but_not_change_its_thing(
    api: APIClient, thing: Enrolled, controller: Enrolled
) -> None:
    url = f"/iot/device/{thing.plug.id}"

    assert send(api, "patch", url, {"name": "mine"}, **plug_headers(controller)).status_code == 403
    assert send(api, "patch", url + "/x", 1, **plug_headers(controller)).status_code == 403
    assert send(api, "delete", url + "/", **plug_headers(controller)).status_code == 403
    assert api.get(url + "/", **plug_headers(controller)).status_code == 200
    assert Plug.objects.get(id=thing.plug.id).name == "thermostat"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "1st"},
        {"name": None},
        {"name": ""},
        {"perm": "rw"},
        {"perm": {"of": []}},
        {"perm": {"ctrl": "w"}},
        {"status": "reactivate"},
        {"status": 1},
        {"props": "x"},
        {"props": {"location": {"x": 1}}},
        ["name"],
        "Boiler",
    ],
)
def test_bad_patch_is_a_400_and_changes_nothing(
    api: APIClient, tenant: Tenant, thing: Enrolled, body: Any
) -> None:
    response = send(api, "patch", f"/iot/device/{thing.plug.id}", body, **tenant.master_headers())

    assert response.status_code == 400
    assert set(response.json()) == {"err", "msg"}
    plug = Plug.objects.get(id=thing.plug.id)
    assert (plug.name, plug.status, plug.props) == ("thermostat", "ok", {})


def test_renaming_onto_an_existing_name_is_a_409(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    tenant.plug("Taken")

    response = send(
        api, "patch", f"/iot/device/{thing.plug.id}", {"name": "TAKEN"}, **tenant.master_headers()
    )
    case_only = send(
        api, "patch", f"/iot/device/{thing.plug.id}", {"name": "ThermoStat"}, **tenant.master_headers()
    )

    assert response.status_code == 409
    assert response.json()["err"] == 409
    assert case_only.status_code == 200


# --- props one key at a time ------------------------------------------------------------------------------


def test_prop_set_get_and_remove(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    url = f"/iot/device/{thing.plug.id}/color"
    h = plug_headers(thing)

    set_ = send(api, "patch", url, "red", **h)
    got = api.get(url, **h)
    cleared = api.patch(url, data="null", content_type="application/json", **h)  # removeDeviceProp()
    missing = api.get(url, **h)

    assert set_.status_code == 200
    assert set_.json() == {"color": "red"}
    assert got.json() == "red"
    assert cleared.status_code == 200
    assert cleared.json() == {}
    assert missing.status_code == 404
    assert missing.json()["err"] == 404


def test_prop_delete_counts_what_it_removed(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    url = f"/iot/device/{thing.plug.id}/fw"
    send(api, "patch", url, {"v": 2}, **tenant.master_headers())

    first = api.delete(url, **tenant.master_headers())
    second = api.delete(url, **tenant.master_headers())

    assert (first.json(), second.json()) == (1, 0)


def test_a_prop_patch_without_a_body_is_refused(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    Plug.objects.filter(id=thing.plug.id).update(props={"color": "red"})

    response = api.patch(f"/iot/device/{thing.plug.id}/color", **tenant.master_headers())

    assert response.status_code == 400
    assert Plug.objects.get(id=thing.plug.id).props == {"color": "red"}


def test_prop_keys_are_percent_decoded(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    response = send(api, "patch", f"/iot/device/{thing.plug.id}/a%2Fb%20c", 1, **tenant.master_headers())

    assert response.json() == {"a/b c": 1}
    assert api.get(f"/iot/device/{thing.plug.id}/a%2Fb%20c", **tenant.master_headers()).json() == 1


def test_whole_props_get_patch_delete(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    url = f"/iot/device/{thing.plug.id}/"
    h = tenant.master_headers()

    patched = send(api, "patch", url, {"a": 1, "b": {"c": True}}, **h)
    merged = send(api, "patch", url, {"a": None, "d": "x"}, **h)
    got = api.get(url, **h)
    not_object = send(api, "patch", url, [1], **h)
    removed = api.delete(url, **h)

    assert patched.json() == {"a": 1, "b": {"c": True}}
    assert merged.json() == {"b": {"c": True}, "d": "x"}
    assert got.json() == {"b": {"c": True}, "d": "x"}
    assert not_object.status_code == 400
    assert removed.json() == 2
    assert Plug.objects.get(id=thing.plug.id).props == {}


def test_location_as_the_js_client_sets_it(api: APIClient, thing: Enrolled) -> None:
    url = f"/iot/device/{thing.plug.id}/location"
    location = {"x": -179.5, "y": 90, "r": 5, "z": 120.5, "t": "2024-05-01T10:00:00Z"}

    response = send(api, "patch", url, location, **plug_headers(thing))

    assert response.status_code == 200
    assert api.get(url, **plug_headers(thing)).json() == location


@pytest.mark.parametrize(
    "location",
    [
        {"x": 180, "y": 0},
        {"x": -180.1, "y": 0},
        {"x": 0, "y": 90.5},
        {"x": 0, "y": -91},
        {"x": "1", "y": 0},
        {"x": True, "y": 0},
        {"y": 0},
        {"x": 0, "y": 0, "r": "far"},
        {"x": 0, "y": 0, "t": "yesterday"},
        [0, 0],
        "here",
    ],
)
def test_bad_location_is_a_400(api: APIClient, thing: Enrolled, location: Any) -> None:
    Plug.objects.filter(id=thing.plug.id).update(props={"location": {"x": 1, "y": 2}})

    one = send(api, "patch", f"/iot/device/{thing.plug.id}/location", location, **plug_headers(thing))
    whole = send(api, "patch", f"/iot/device/{thing.plug.id}/", {"location": location}, **plug_headers(thing))
    device = send(
        api, "patch", f"/iot/device/{thing.plug.id}", {"props": {"location": location}}, **plug_headers(thing)
    )

    assert (one.status_code, whole.status_code, device.status_code) == (400, 400, 400)
    assert Plug.objects.get(id=thing.plug.id).props == {"location": {"x": 1, "y": 2}}


# --- release of control ------------------------------------------------------------------------------------


def test_a_controller_releases_control(
    api: APIClient, tenant: Tenant, thing: Enrolled, controller: Enrolled
) -> None:
    other = tenant.plug("other")
    Control.objects.create(controller=controller.plug, thing=other.plug)

    # As the JS client's uncontrolDevice(): DELETE device/{own id} with {"controlled": id|[ids]}.
    response = send(
        api,
        "delete",
        f"/iot/device/{controller.plug.id}",
        {"controlled": [thing.plug.id, "dev-" + "0" * 24]},
        **plug_headers(controller),
    )

    assert response.status_code == 200
    assert response.json() == 1
    assert list(Control.objects.values_list("thing_id", flat=True)) == [other.plug.id]


def test_the_account_releases_control_for_a_controller(
    api: APIClient, tenant: Tenant, thing: Enrolled, controller: Enrolled
) -> None:
    url = f"/iot/device/{controller.plug.id}"

    response = send(api, "delete", url, {"controlled": thing.plug.id}, **tenant.master_headers())

    assert response.json() == 1
    assert not Control.objects.exists()


def test_only_the_controller_or_its_account_releases(
    api: APIClient, tenant: Tenant, thing: Enrolled, controller: Enrolled
) -> None:
    response = send(
        api,
        "delete",
        f"/iot/device/{controller.plug.id}",
        {"controlled": thing.plug.id},
        **plug_headers(thing),
    )

    assert response.status_code == 403
    assert Control.objects.exists()


@pytest.mark.parametrize("body", [None, {}, {"controlled": 5}, {"controlled": []}, "dev-x"])
def test_release_needs_controlled(api: APIClient, thing: Enrolled, controller: Enrolled, body: Any) -> None:
    response = send(api, "delete", f"/iot/device/{controller.plug.id}", body, **plug_headers(controller))

    assert response.status_code == 400
    assert Control.objects.exists()


# --- disabled plugs ---------------------------------------------------------------------------------


def test_disabled_plug_credentials_are_refused_everywhere(
    api: APIClient, tenant: Tenant, thing: Enrolled, controller: Enrolled
) -> None:
    Plug.objects.filter(id__in=[thing.plug.id, controller.plug.id]).update(status="disabled")
    dev = thing.plug.id
    calls = [
        ("get", f"/iot/device/{dev}", None),
        ("patch", f"/iot/device/{dev}", {"name": "x"}),
        ("get", f"/iot/device/{dev}/", None),
        ("patch", f"/iot/device/{dev}/", {"a": 1}),
        ("delete", f"/iot/device/{dev}/", None),
        ("get", f"/iot/device/{dev}/a", None),
        ("patch", f"/iot/device/{dev}/a", 1),
        ("delete", f"/iot/device/{dev}/a", None),
        ("delete", "/iot/device", dev),
        ("post", "/iot/device", {"name": "p"}),
        ("put", "/iot/device", {"model": "mod-x", "ctrl": "SN-1", "pass": "p"}),
    ]
    for creds in (plug_headers(thing), plug_headers(controller)):
        for method, url, body in calls:
            response = send(api, method, url, body, **creds)
            assert response.status_code == 403, (method, url)
            assert response.json() == {"err": 403, "msg": "plug is disabled"}
    released = send(
        api, "delete", f"/iot/device/{controller.plug.id}", {"controlled": dev}, **plug_headers(controller)
    )
    assert released.status_code == 403
    assert Plug.objects.filter(id=dev, name="thermostat").exists()
    # The account still manages it, and re-enables it.
    enabled = send(api, "patch", f"/iot/device/{dev}", {"status": "ok"}, **tenant.master_headers())
    assert enabled.status_code == 200
    assert api.get(f"/iot/device/{dev}", **plug_headers(thing)).status_code == 200


def test_clearing_props_spares_the_property_dialects_fields(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    Plug.objects.filter(id=thing.plug.id).update(props={"_v3": {"period": 30}, "a": 1, "b": 2})

    response = api.delete(f"/iot/device/{thing.plug.id}/", **tenant.master_headers())

    assert response.json() == 2
    assert Plug.objects.get(id=thing.plug.id).props == {"_v3": {"period": 30}}


def test_perm_of_names_only_plugs_of_the_account(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    """A plug's reach may not list another account's plugs (nor unknown ids): 400, nothing stored."""
    foreign = other_tenant.plug("victim")
    neighbour = tenant.plug("neighbour")
    url = f"/iot/device/{thing.plug.id}"

    refused = send(api, "patch", url, {"perm": {"of": {"r": [foreign.plug.id]}}}, **tenant.master_headers())
    unknown = send(api, "patch", url, {"perm": {"of": {"w": ["dev-" + "0" * 24]}}}, **tenant.master_headers())
    prototype = send(
        api,
        "post",
        "/iot/device",
        {"name": "proto", "perm": {"of": {"r": [foreign.plug.id]}}},
        **tenant.master_headers(),
    )
    kept = send(api, "patch", url, {"perm": {"of": {"r": [neighbour.plug.id]}}}, **tenant.master_headers())

    assert (refused.status_code, unknown.status_code, prototype.status_code) == (400, 400, 400)
    assert refused.json()["msg"] == unknown.json()["msg"].replace("0" * 24, foreign.plug.id[4:]).replace(
        "perm.of.w", "perm.of.r"
    )
    assert kept.status_code == 200
    assert Plug.objects.get(id=thing.plug.id).perm["of"] == {"r": [neighbour.plug.id], "w": []}
    assert not Plug.objects.filter(name="proto").exists()
