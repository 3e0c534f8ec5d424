"""One store, two dialects (SPEC §4): property P of device D is channel P with of = D.

What the property dialect writes, the channel dialect reads, and the other way round. The HTTP
cross-reads run when the channel dialect's routes exist; the ORM checks always run.
"""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from data.models import DataPoint, JournalEntry
from data.services import PointIn, points_write
from devices.models import Property
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import iso
from tests.conftest import Tenant, plug_headers

T0 = 1_700_000_000_000


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


needs_channel_dialect = pytest.mark.skipif(
    not _routed("/iot/data/temperature"), reason="the channel dialect's /iot/data routes are not there yet"
)


@pytest.mark.django_db
def test_property_write_is_channel_point(api: APIClient, thing: Enrolled) -> None:
    feed = {"dps": [{"t": iso(T0), "v": 21.5}, {"t": T0 + 1000, "v": 22}]}
    r = api.post("/v3/data/devices/_this_/properties/temperature", feed, format="json", **plug_headers(thing))
    assert r.json() == {"accepted": 2, "rejected": 0}
    rows = DataPoint.objects.filter(channel="temperature").order_by("-at")
    assert [(p.of, p.at, p.data) for p in rows] == [(thing.plug.id, T0 + 1000, 22), (thing.plug.id, T0, 21.5)]
    assert all(p.account_id == thing.plug.account_id for p in rows)
    assert JournalEntry.objects.filter(channel="temperature", of=thing.plug.id).count() == 2


@needs_channel_dialect
@pytest.mark.django_db
def test_property_write_read_back_through_the_channel_dialect(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    feed = {"dps": [{"t": iso(T0), "v": 21.5}, {"t": T0 + 1000, "v": 22}]}
    api.post("/v3/data/devices/_this_/properties/temperature", feed, format="json", **plug_headers(thing))
    r = api.get("/iot/data/temperature", **plug_headers(thing))
    assert r.status_code == 200
    records = r.json()
    oids = dict(DataPoint.objects.filter(channel="temperature").values_list("at", "id"))
    assert records == [
        {"id": oids[T0 + 1000], "channel": "temperature", "data": 22, "at": T0 + 1000, "of": thing.plug.id},
        {"id": oids[T0], "channel": "temperature", "data": 21.5, "at": T0, "of": thing.plug.id},
    ]
    # The account reads the same series.
    assert api.get("/iot/data/temperature", **tenant.master_headers()).json() == records


@pytest.mark.django_db
def test_channel_publish_is_a_property_value(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    plug = thing.plug
    principal = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
    [result] = points_write(
        principal=principal, points=[PointIn(channel="temperature", data=21.5, at=T0)], source="http"
    )
    assert result.ok
    assert api.get(f"/v3/data/devices/{plug.id}", **tenant.master_headers()).json() == {"temperature": 21.5}
    r = api.get("/v3/data/devices/thermostat/properties/temperature", **plug_headers(thing))
    assert r.json() == {"results": [{"t": iso(T0), "v": 21.5}]}


@needs_channel_dialect
@pytest.mark.django_db
def test_channel_dialect_put_read_through_the_property_dialect(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    r = api.put("/iot/data/temperature", {"data": 21.5}, format="json", **plug_headers(thing))
    assert r.status_code == 200, r.content
    assert api.get(f"/v3/data/devices/{thing.plug.id}", **tenant.master_headers()).json() == {
        "temperature": 21.5
    }
    # The plug's publish created the property, as a property-dialect write would have.
    assert Property.objects.filter(plug=thing.plug, name="temperature").exists()
    r = api.put("/iot/data/temperature", {"data": 23, "at": T0}, format="json", **plug_headers(thing))
    assert r.status_code == 200
    series = api.get(
        "/v3/data/devices/_this_/properties/temperature", {"order": "asc"}, **plug_headers(thing)
    )
    assert [p["v"] for p in series.json()["results"]] == [23, 21.5]
    events = api.get("/v3/data/devices/_this_/events", **plug_headers(thing)).json()
    assert events["total"] == 2


@needs_channel_dialect
@pytest.mark.django_db
def test_same_millisecond_across_dialects_is_one_point(api: APIClient, thing: Enrolled) -> None:
    api.put("/iot/data/temperature", {"data": 1, "at": T0}, format="json", **plug_headers(thing))
    feed = {"dps": [{"t": iso(T0), "v": 2}]}
    api.post("/v3/data/devices/_this_/properties/temperature", feed, format="json", **plug_headers(thing))
    [record] = api.get("/iot/data/temperature", **plug_headers(thing)).json()
    assert (record["at"], record["data"]) == (T0, 2)
    assert JournalEntry.objects.filter(of=thing.plug.id, at=T0).count() == 2


# --- one rule for names (issue 24): a plug's series are named case-insensitively in both dialects


@pytest.mark.django_db
def test_channel_writes_differing_in_case_are_one_series_readable_through_v3(
    api: APIClient, thing: Enrolled
) -> None:
    for n, channel in enumerate(("Temp", "temp", "TEMP")):
        r = api.put(f"/iot/data/{channel}", {"data": n, "at": T0 + n}, format="json", **plug_headers(thing))
        assert r.status_code == 200, r.content
    # One property, under the spelling of its first write; every value in its series.
    assert list(Property.objects.filter(plug=thing.plug).values_list("name", flat=True)) == ["Temp"]
    assert set(DataPoint.objects.filter(of=thing.plug.id).values_list("channel", flat=True)) == {"Temp"}
    for name in ("temp", "Temp", "TEMP"):
        r = api.get(f"/v3/data/devices/_this_/properties/{name}", {"order": "asc"}, **plug_headers(thing))
        assert [p["v"] for p in r.json()["results"]] == [0, 1, 2], name
    # The channel dialect reads it by the stored spelling, which its channel list shows.
    assert api.get("/iot/channel/%23", **plug_headers(thing)).json() == ["Temp"]
    assert [rec["data"] for rec in api.get("/iot/data/Temp", **plug_headers(thing)).json()] == [2, 1, 0]


@pytest.mark.django_db
def test_a_v3_property_is_written_by_the_channel_dialect_in_any_case(api: APIClient, thing: Enrolled) -> None:
    feed = {"dps": [{"t": T0, "v": 1}]}
    r = api.post("/v3/data/devices/_this_/properties/Humidity", feed, format="json", **plug_headers(thing))
    assert r.json() == {"accepted": 1, "rejected": 0}
    r = api.put("/iot/data/humidity", {"data": 2, "at": T0 + 1}, format="json", **plug_headers(thing))
    assert r.status_code == 200, r.content
    assert list(Property.objects.filter(plug=thing.plug).values_list("name", flat=True)) == ["Humidity"]
    r = api.get("/v3/data/devices/_this_/properties/humidity", {"order": "asc"}, **plug_headers(thing))
    assert [p["v"] for p in r.json()["results"]] == [1, 2]
    assert [rec["data"] for rec in api.get("/iot/data/Humidity", **plug_headers(thing)).json()] == [2, 1]


@pytest.mark.django_db
def test_one_batch_naming_a_new_series_in_two_cases_makes_one_property(
    api: APIClient, thing: Enrolled
) -> None:
    body = [{"channel": "Level", "data": 1, "at": T0}, {"channel": "level", "data": 2, "at": T0 + 1}]
    r = api.put("/iot/data", body, format="json", **plug_headers(thing))
    assert r.status_code == 200, r.content
    assert list(Property.objects.filter(plug=thing.plug).values_list("name", flat=True)) == ["Level"]
    assert list(DataPoint.objects.filter(of=thing.plug.id).order_by("at").values_list("channel", "data")) == [
        ("Level", 1),
        ("Level", 2),
    ]


@pytest.mark.django_db
def test_the_accounts_own_channels_stay_exact(api: APIClient, tenant: Tenant) -> None:
    # No plug, no property: CloudPlugs' channels of the account itself keep their case.
    for channel in ("Site/Temp", "site/temp"):
        r = api.put(
            f"/iot/data/{channel}", {"data": channel, "at": T0}, format="json", **tenant.master_headers()
        )
        assert r.status_code == 200, r.content
    assert sorted(DataPoint.objects.values_list("channel", flat=True)) == ["Site/Temp", "site/temp"]
