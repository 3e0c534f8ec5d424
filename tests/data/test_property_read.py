"""Property dialect reads (SPEC §6): latest values, a property's series, the device's journal."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from data.services import PointIn, points_write
from devices.models import Plug
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.services import key_create
from plugboard.timestamps import iso, now_ms
from tests.conftest import Tenant, basic, plug_headers

T0 = 1_700_000_000_000


def as_device(enrolled: Enrolled) -> Principal:
    plug = enrolled.plug
    return Principal(
        account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id, plug_ids=(plug.id,)
    )


def write(enrolled: Enrolled, channel: str, *points: tuple[int, Any], expire_at: int | None = None) -> None:
    results = points_write(
        principal=as_device(enrolled),
        points=[PointIn(channel=channel, data=v, at=t, expire_at=expire_at) for t, v in points],
        source="http",
        property_write=True,
    )
    assert all(r.ok for r in results), results


# --- latest values ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_latest_values(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 20), (T0 + 2, 22), (T0 + 1, 21))
    write(thing, "state", (T0, {"mode": "eco"}))
    write(thing, "label", (T0, "kitchen"), (T0 + 1, None))
    expected = {"temperature": 22, "state": {"mode": "eco"}, "label": None}
    assert api.get("/v3/data/devices/thermostat", **plug_headers(thing)).json() == expected
    assert api.get(f"/v3/data/devices/{thing.plug.id}", **tenant.master_headers()).json() == expected
    assert api.get("/v3/accounts/_this_/data/devices/_this_", **plug_headers(thing)).json() == expected


@pytest.mark.django_db
def test_latest_values_never_expired(api: APIClient, thing: Enrolled) -> None:
    now = now_ms()
    write(thing, "temperature", (T0, 20))
    write(thing, "temperature", (T0 + 1, 21), expire_at=now - 1)  # newest, but expired
    write(thing, "flash", (T0, 1), expire_at=now - 1)  # only point expired
    write(thing, "fresh", (T0, 5), expire_at=now + 60_000)
    assert api.get("/v3/data/devices/_this_", **plug_headers(thing)).json() == {"temperature": 20, "fresh": 5}


@pytest.mark.django_db
def test_latest_values_of_a_device_without_data(api: APIClient, thing: Enrolled) -> None:
    assert api.get("/v3/data/devices/_this_", **plug_headers(thing)).json() == {}


# --- a property's series ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_series_newest_first_by_default(api: APIClient, thing: Enrolled) -> None:
    write(thing, "Temperature", *[(T0 + i * 1000, i) for i in range(5)])
    r = api.get("/v3/data/devices/_this_/properties/temperature", **plug_headers(thing))
    assert r.status_code == 200
    assert r.json() == {"results": [{"t": iso(T0 + i * 1000), "v": i} for i in reversed(range(5))]}


@pytest.mark.django_db
def test_series_limit_order_start_end(api: APIClient, thing: Enrolled) -> None:
    write(thing, "temperature", *[(T0 + i * 1000, i) for i in range(10)])
    path = "/v3/data/devices/_this_/properties/temperature"
    r = api.get(path, {"order": "asc", "limit": 3}, **plug_headers(thing))
    assert [p["v"] for p in r.json()["results"]] == [0, 1, 2]
    r = api.get(path, {"start": iso(T0 + 2000), "end": T0 + 5000}, **plug_headers(thing))
    assert [p["v"] for p in r.json()["results"]] == [5, 4, 3, 2]
    r = api.get(
        path, {"start": "2023-11-15T00:13:27+02:00", "order": "asc", "limit": 2}, **plug_headers(thing)
    )
    assert [p["v"] for p in r.json()["results"]] == [7, 8]


@pytest.mark.django_db
def test_series_default_limit_is_100(api: APIClient, thing: Enrolled) -> None:
    write(thing, "n", *[(T0 + i, i) for i in range(150)])
    r = api.get("/v3/data/devices/_this_/properties/n", **plug_headers(thing))
    assert len(r.json()["results"]) == 100
    r = api.get("/v3/data/devices/_this_/properties/n", {"limit": 1000}, **plug_headers(thing))
    assert len(r.json()["results"]) == 150


@pytest.mark.django_db
def test_series_never_expired(api: APIClient, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 1))
    write(thing, "temperature", (T0 + 1, 2), expire_at=now_ms() - 1)
    r = api.get("/v3/data/devices/_this_/properties/temperature", **plug_headers(thing))
    assert r.json() == {"results": [{"t": iso(T0), "v": 1}]}


@pytest.mark.django_db
def test_series_by_property_id_and_device_name(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 1))
    prop = thing.plug.properties.get(name="temperature")
    r = api.get(f"/v3/data/devices/THERMOSTAT/properties/{prop.id}", **tenant.master_headers())
    assert r.json() == {"results": [{"t": iso(T0), "v": 1}]}


@pytest.mark.django_db
def test_series_of_a_multi_level_property(api: APIClient, thing: Enrolled) -> None:
    write(thing, "room/temp", (T0, 1))
    r = api.get("/v3/data/devices/_this_/properties/room/temp", **plug_headers(thing))
    assert r.json() == {"results": [{"t": iso(T0), "v": 1}]}
    r = api.get("/v3/data/devices/_this_/properties/room%2Ftemp", **plug_headers(thing))
    assert r.json() == {"results": [{"t": iso(T0), "v": 1}]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"order": "sideways"},
        {"start": "2023-11-14T22:13:20"},  # no zone
        {"end": "yesterday"},
        {"start": T0 + 10, "end": T0},
    ],
)
def test_series_bad_parameters(api: APIClient, thing: Enrolled, params: dict[str, Any]) -> None:
    write(thing, "temperature", (T0, 1))
    r = api.get("/v3/data/devices/_this_/properties/temperature", params, **plug_headers(thing))
    assert r.status_code == 400
    [error] = r.json()
    assert error["code"] == 400 and error["message"]


@pytest.mark.django_db
def test_series_unknown_property_is_404(api: APIClient, thing: Enrolled) -> None:
    r = api.get("/v3/data/devices/_this_/properties/nothing", **plug_headers(thing))
    assert r.status_code == 404
    assert r.json()[0]["cause"] == "NotFound"


# --- journal ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_are_the_devices_journal_paged(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("other")
    write(thing, "temperature", *[(T0 + i, i) for i in range(5)])
    write(thing, "temperature", (T0, 99))  # overwrites in the series, appended to the journal
    write(other, "temperature", (T0, 1))
    r = api.get("/v3/data/devices/_this_/events", {"pageSize": 4, "pageNo": 1}, **plug_headers(thing))
    body = r.json()
    assert {k: body[k] for k in ("total", "itemCount", "numOfPages", "pageNo", "skip")} == {
        "total": 6,
        "itemCount": 4,
        "numOfPages": 2,
        "pageNo": 1,
        "skip": 0,
    }
    first = body["results"][0]
    assert (first["prop"], first["v"], first["t"], first["source"]) == ("temperature", 99, iso(T0), "http")
    assert first["credential"] == thing.plug.id and first["event"] == "data"
    r = api.get("/v3/data/devices/thermostat/events", {"pageSize": 4, "pageNo": 2}, **tenant.master_headers())
    assert [e["v"] for e in r.json()["results"]] == [1, 0]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"pageSize": 0}, {"pageSize": "x"}, {"pageNo": 0}, {"pageSize": 100_000}])
def test_events_bad_paging(api: APIClient, thing: Enrolled, params: dict[str, Any]) -> None:
    r = api.get("/v3/data/devices/_this_/events", params, **plug_headers(thing))
    assert r.status_code == 400
    assert r.json()[0]["code"] == 400


# --- who may read -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reads_of_another_account_are_404(api: APIClient, thing: Enrolled, other_tenant: Tenant) -> None:
    write(thing, "temperature", (T0, 1))
    for path in (
        f"/v3/data/devices/{thing.plug.id}",
        f"/v3/data/devices/{thing.plug.id}/properties/temperature",
        f"/v3/data/devices/{thing.plug.id}/events",
        "/v3/data/devices/thermostat",
    ):
        r = api.get(path, **other_tenant.master_headers())
        assert r.status_code == 404, path
        assert "temperature" not in r.content.decode()


@pytest.mark.django_db
def test_a_device_reads_only_what_it_may(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 1))
    nosy = tenant.plug("nosy")
    assert api.get("/v3/data/devices/thermostat", **plug_headers(nosy)).status_code == 403
    assert api.get("/v3/data/devices/thermostat/events", **plug_headers(nosy)).status_code == 403
    # A plug whose perm lists the thing may read it.
    friend = tenant.plug("friend", perm={"of": {"r": [thing.plug.id], "w": []}})
    assert api.get("/v3/data/devices/thermostat", **plug_headers(friend)).json() == {"temperature": 1}


@pytest.mark.django_db
def test_api_client_reads_need_the_read_scope(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 1))
    reader, secret = key_create(account=tenant.account, kind="apiclient", scope=["device:read-data"])
    assert api.get("/v3/data/devices/thermostat", **basic(reader.id, secret)).json() == {"temperature": 1}
    writer, secret = key_create(account=tenant.account, kind="apiclient", scope=["device:write-data"])
    assert api.get("/v3/data/devices/thermostat", **basic(writer.id, secret)).status_code == 403


@pytest.mark.django_db
def test_reads_need_credentials(api: APIClient, thing: Enrolled) -> None:
    r = api.get("/v3/data/devices/thermostat")
    assert r.status_code == 401
    assert r.json()[0]["code"] == 401


@pytest.mark.django_db
def test_reads_of_a_disabled_device_by_the_account(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    write(thing, "temperature", (T0, 1))
    Plug.objects.filter(pk=thing.plug.pk).update(status=Plug.Status.DISABLED)
    # Disabling stops the device writing; its history stays readable by the account.
    assert api.get("/v3/data/devices/thermostat", **tenant.master_headers()).json() == {"temperature": 1}


@pytest.mark.django_db
def test_latest_values_query_count(
    api: APIClient, thing: Enrolled, django_assert_max_num_queries: Any
) -> None:
    for i in range(20):
        write(thing, f"p{i}", (T0, i))
    with django_assert_max_num_queries(3):
        r = api.get("/v3/data/devices/_this_", **plug_headers(thing))
    assert len(r.json()) == 20
