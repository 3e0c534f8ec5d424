"""`POST data/devices/{ref}/properties/{prp}/query` (SPEC §6): ranges and aggregators.

The same expectations hold on PostgreSQL (aggregated in SQL) and SQLite (aggregated in Python).
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from data.aggregation import Aggregator, aggregate
from data.services import PointIn, points_write
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import iso, now_ms
from tests.conftest import Tenant, plug_headers

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z, on an hour boundary
MIN = 60_000
HOUR = 3_600_000
PATH = "/v3/data/devices/_this_/properties/temperature/query"


def write(
    enrolled: Enrolled, channel: str, points: list[tuple[int, Any]], expire_at: int | None = None
) -> None:
    plug = enrolled.plug
    principal = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
    results = points_write(
        principal=principal,
        points=[PointIn(channel=channel, data=v, at=t, expire_at=expire_at) for t, v in points],
        source="http",
    )
    assert all(r.ok for r in results)


@pytest.fixture
def readings(thing: Enrolled) -> Enrolled:
    # Hour 0: 10, 20, "n/a", 30 — hour 1: 5, true — hour 2: nothing — hour 3: 7.5
    write(
        thing,
        "temperature",
        [
            (T0, 10),
            (T0 + 10 * MIN, 20),
            (T0 + 20 * MIN, "n/a"),
            (T0 + 30 * MIN, 30),
            (T0 + HOUR + MIN, 5),
            (T0 + HOUR + 2 * MIN, True),
            (T0 + 3 * HOUR, 7.5),
        ],
    )
    return thing


def query(api: APIClient, enrolled: Enrolled, body: Any) -> Any:
    r = api.post(PATH, body, format="json", **plug_headers(enrolled))
    assert r.status_code == 200, r.content
    return r.json()


def values(result: Any) -> list[tuple[str, Any]]:
    [series] = result["results"]
    return [(v["t"], v["v"]) for v in series["values"]]


def hourly(name: str) -> dict[str, Any]:
    return {
        "startAbsolute": iso(T0),
        "aggregators": [{"name": name, "sampling": {"value": 1, "unit": "hours"}}],
    }


@pytest.mark.django_db
def test_raw_points_in_a_range(api: APIClient, readings: Enrolled) -> None:
    body = {"startAbsolute": iso(T0 + 10 * MIN), "endAbsolute": iso(T0 + HOUR + MIN)}
    result = query(api, readings, body)
    assert result["sampleSize"] == 4
    assert result["results"][0]["ref"] == "temperature"
    assert values(result) == [
        (iso(T0 + 10 * MIN), 20),
        (iso(T0 + 20 * MIN), "n/a"),
        (iso(T0 + 30 * MIN), 30),
        (iso(T0 + HOUR + MIN), 5),
    ]
    body["order"], body["limit"] = "desc", 2
    assert [v for _, v in values(query(api, readings, body))] == [5, 30]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("avg", [(0, 20), (1, 5), (3, 7.5)]),
        ("min", [(0, 10), (1, 5), (3, 7.5)]),
        ("max", [(0, 30), (1, 5), (3, 7.5)]),
        ("sum", [(0, 60), (1, 5), (3, 7.5)]),
        ("count", [(0, 4), (1, 2), (3, 1)]),
        ("first", [(0, 10), (1, 5), (3, 7.5)]),
        ("last", [(0, 30), (1, True), (3, 7.5)]),
    ],
)
def test_each_aggregator_per_hour(api: APIClient, readings: Enrolled, name: str, expected: list[Any]) -> None:
    result = query(api, readings, hourly(name))
    assert result["sampleSize"] == 7
    assert values(result) == [(iso(T0 + h * HOUR), v) for h, v in expected]


@pytest.mark.django_db
@pytest.mark.parametrize("seek_buckets", [0, 10_000], ids=["group-by", "index-seeks"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_first_and_last_per_bucket_agree_whichever_plan_runs(
    api: APIClient, thing: Enrolled, monkeypatch: pytest.MonkeyPatch, seek_buckets: int, order: str
) -> None:
    """With an end, few buckets: PostgreSQL seeks each bucket's first/last point through the key
    instead of grouping every point; the answer is the same (SQLite: Python, either way)."""
    monkeypatch.setattr("data.aggregation.SEEK_BUCKETS", seek_buckets)
    write(
        thing,
        "temperature",
        [
            (T0 + i * 7 * MIN, v)
            for i, v in enumerate([1, "two", {"three": 3}, None, 5.5, [6], True, 8, 9, 10])
        ],
    )
    write(thing, "temperature", [(T0 + 30 * MIN, 99)], expire_at=now_ms() - 1)  # expired: never seen
    body = {"startAbsolute": iso(T0), "endAbsolute": iso(T0 + 4 * HOUR), "order": order, "limit": 3}
    expected = {
        "first": [(T0, 1), (T0 + HOUR, 10)],  # points at 0, 7, … 56 min, then 63 min
        "last": [(T0, 9), (T0 + HOUR, 10)],
    }
    for name, series in expected.items():
        body["aggregators"] = [{"name": name, "sampling": {"value": 1, "unit": "hours"}}]
        got = values(query(api, thing, body))
        want = [(iso(t), v) for t, v in series]
        assert got == (want if order == "asc" else want[::-1]), name
    body["aggregators"] = [{"name": "last", "sampling": {"value": 10, "unit": "minutes"}}]
    body["limit"] = 2
    got = values(query(api, thing, body))
    if order == "asc":
        assert got == [(iso(T0), "two"), (iso(T0 + 10 * MIN), {"three": 3})]
    else:
        assert got == [(iso(T0 + 60 * MIN), 10), (iso(T0 + 50 * MIN), 9)]


@pytest.mark.django_db
def test_non_numeric_buckets_are_left_out_of_numeric_aggregators(api: APIClient, thing: Enrolled) -> None:
    write(thing, "temperature", [(T0, "a"), (T0 + HOUR, 1), (T0 + HOUR + 1, {"x": 1})])
    assert values(query(api, thing, hourly("avg"))) == [(iso(T0 + HOUR), 1)]
    assert values(query(api, thing, hourly("first"))) == [(iso(T0), "a"), (iso(T0 + HOUR), 1)]
    assert values(query(api, thing, hourly("last"))) == [(iso(T0), "a"), (iso(T0 + HOUR), {"x": 1})]


@pytest.mark.django_db
def test_aggregator_without_sampling_reduces_the_range(api: APIClient, readings: Enrolled) -> None:
    result = query(api, readings, {"startAbsolute": T0, "aggregators": [{"name": "max"}]})
    assert values(result) == [(iso(T0), 30)]
    result = query(api, readings, {"startAbsolute": T0 + 5 * HOUR, "aggregators": [{"name": "count"}]})
    assert result["sampleSize"] == 0
    assert values(result) == []


@pytest.mark.django_db
def test_aggregators_are_chained(api: APIClient, readings: Enrolled) -> None:
    body = {
        "startAbsolute": iso(T0),
        "aggregators": [
            {"name": "max", "sampling": {"value": 1, "unit": "hours"}},
            {"name": "sum", "sampling": {"value": 1, "unit": "days"}},
        ],
    }
    # max per hour: 30, 5 | 7.5 → their sum per day (buckets align on the epoch; T0 is 22:00).
    day = T0 - T0 % 86_400_000
    assert values(query(api, readings, body)) == [(iso(day), 35), (iso(day + 86_400_000), 7.5)]


@pytest.mark.django_db
def test_order_and_limit_of_aggregated_values(api: APIClient, readings: Enrolled) -> None:
    body = {**hourly("count"), "order": "desc", "limit": 2}
    assert values(query(api, readings, body)) == [(iso(T0 + 3 * HOUR), 1), (iso(T0 + HOUR), 2)]
    body = {
        **body,
        "aggregators": [*body["aggregators"], {"name": "count", "sampling": {"value": 1, "unit": "minutes"}}],
    }
    assert values(query(api, readings, body)) == [(iso(T0 + 3 * HOUR), 1), (iso(T0 + HOUR), 1)]


@pytest.mark.django_db
def test_relative_range(api: APIClient, thing: Enrolled) -> None:
    now = now_ms()
    write(thing, "temperature", [(now - 3 * HOUR, 1), (now - 90 * MIN, 2), (now - 10 * MIN, 3)])
    result = query(api, thing, {"startRelative": {"value": 2, "unit": "hours"}})
    assert [v for _, v in values(result)] == [2, 3]
    body = {"startRelative": {"value": 4, "unit": "hours"}, "endRelative": {"value": 1, "unit": "hours"}}
    assert [v for _, v in values(query(api, thing, body))] == [1, 2]
    assert [v for _, v in values(query(api, thing, {}))] == [1, 2, 3]


@pytest.mark.django_db
def test_expired_points_are_never_aggregated(api: APIClient, readings: Enrolled) -> None:
    write(readings, "temperature", [(T0 + 5, 1000)], expire_at=now_ms() - 1)
    result = query(api, readings, hourly("max"))
    assert result["sampleSize"] == 7
    assert values(result)[0] == (iso(T0), 30)


@pytest.mark.django_db
def test_query_by_property_name_in_any_case_under_the_account_prefix(
    api: APIClient, tenant: Tenant, readings: Enrolled
) -> None:
    r = api.post(
        "/v3/accounts/_this_/data/devices/THERMOSTAT/properties/TEMPERATURE/query",
        hourly("count"),
        format="json",
        **tenant.master_headers(),
    )
    assert r.status_code == 200
    assert r.json()["results"][0]["ref"] == "TEMPERATURE"
    assert r.json()["sampleSize"] == 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "text",
        {"startAbsolute": "2023-11-14T22:00:00"},  # no zone
        {"startAbsolute": "soon"},
        {"startRelative": 5},
        {"startRelative": {"value": -1, "unit": "hours"}},
        {"startRelative": {"value": 1, "unit": "fortnights"}},
        {"startAbsolute": T0 + HOUR, "endAbsolute": T0},
        {"aggregators": {"name": "avg"}},
        {"aggregators": ["avg"]},
        {"aggregators": [{"name": "median"}]},
        {"aggregators": [{"name": "avg", "sampling": {"value": 0, "unit": "hours"}}]},
        {"aggregators": [{"name": "avg", "sampling": {"unit": "hours"}}]},
        {"limit": 0},
        {"limit": "many"},
        {"order": "random"},
    ],
)
def test_bad_queries_are_400(api: APIClient, readings: Enrolled, body: Any) -> None:
    r = api.post(PATH, body, format="json", **plug_headers(readings))
    assert r.status_code == 400, body
    [error] = r.json()
    assert error["code"] == 400 and error["message"]


@pytest.mark.django_db
def test_query_of_unknown_property_or_device(api: APIClient, thing: Enrolled, other_tenant: Tenant) -> None:
    r = api.post("/v3/data/devices/_this_/properties/nothing/query", {}, format="json", **plug_headers(thing))
    assert r.status_code == 404
    r = api.post(
        f"/v3/data/devices/{thing.plug.id}/properties/x/query",
        {},
        format="json",
        **other_tenant.master_headers(),
    )
    assert r.status_code == 404
    r = api.post(PATH, "{bad json", content_type="application/json", **plug_headers(thing))
    assert r.status_code == 400


def test_python_aggregation_matches_the_rules() -> None:
    series = [(0, 1), (999, 2), (1000, "x"), (2500, 4)]
    assert aggregate(series, Aggregator("sum", 1000)) == [(0, 3), (2000, 4)]
    assert aggregate(series, Aggregator("count", 1000)) == [(0, 2), (1000, 1), (2000, 1)]
    assert aggregate(series, Aggregator("last", None)) == [(0, 4)]
    assert aggregate(series, Aggregator("avg", 500)) == [(0, 1), (500, 2), (2500, 4)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"startRelative": {"value": 1e308, "unit": "years"}},
        {"startRelative": {"value": 10**400, "unit": "days"}},
        {"startRelative": {"value": "1e400", "unit": "days"}},
        {"aggregators": [{"name": "avg", "sampling": {"value": "nan", "unit": "hours"}}]},
    ],
)
def test_durations_beyond_the_time_line_are_400(api: APIClient, readings: Enrolled, body: Any) -> None:
    r = api.post(PATH, body, format="json", **plug_headers(readings))
    assert r.status_code == 400, r.content
    assert r.json()[0]["code"] == 400


@pytest.mark.django_db
def test_a_very_long_duration_means_the_whole_time_line(api: APIClient, readings: Enrolled) -> None:
    result = query(api, readings, {"startRelative": {"value": 10**9, "unit": "years"}})
    assert result["sampleSize"] == 7


@pytest.mark.django_db
def test_aggregates_of_an_integer_beyond_float8(api: APIClient, thing: Enrolled) -> None:
    # PostgreSQL cannot cast it to float8: Python's exact arithmetic takes over.
    huge = 10**400
    write(thing, "temperature", [(T0, huge), (T0 + HOUR, 4), (T0 + HOUR + MIN, 5)])

    assert values(query(api, thing, hourly("sum"))) == [(iso(T0), huge), (iso(T0 + HOUR), 9)]
    assert values(query(api, thing, hourly("max"))) == [(iso(T0), huge), (iso(T0 + HOUR), 5)]
    # Its average is no float (JSON has no infinity): that bucket is left out.
    assert values(query(api, thing, hourly("avg"))) == [(iso(T0 + HOUR), 4.5)]


def test_python_aggregates_beyond_the_float_range_are_left_out() -> None:
    assert aggregate([(0, 1e308), (1, 1e308), (5, 2)], Aggregator("sum", 5)) == [(5, 2)]
    assert aggregate([(0, 10**400), (5, 2)], Aggregator("avg", 5)) == [(5, 2)]
    assert aggregate([(0, 1e308), (1, 1e308)], Aggregator("avg", None)) == []
