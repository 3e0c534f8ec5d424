"""SPEC §4 rule 1: times the server gives never collide within a series (issue 24).

Records of one request (or one MQTT burst) without a time of their own get distinct, increasing
milliseconds in the order they were sent, so every buffered value is stored; and a server-given
time never repeats the previous server-given time of the series within one process.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from data.models import DataPoint
from data.series_clock import SeriesClock
from data.services import PointIn, Submission, points_write_many
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import now_ms
from tests.conftest import Tenant, plug_headers

pytestmark = pytest.mark.django_db


def series(plug_id: str, channel: str) -> list[tuple[int, Any, str]]:
    return list(
        DataPoint.objects.filter(of=plug_id, channel=channel).order_by("at").values_list("at", "data", "id")
    )


def strictly_increasing(times: list[int]) -> bool:
    return all(a < b for a, b in zip(times, times[1:], strict=False))


def test_an_array_without_at_stores_every_record_in_order(api: APIClient, thing: Enrolled) -> None:
    before = now_ms()
    response = api.put(
        "/iot/data/temp",
        json.dumps([{"data": 1}, {"data": 2}, {"data": 3}]),
        content_type="application/json",
        **plug_headers(thing),
    )
    assert response.status_code == 200, response.content
    oids = response.json()
    assert len(set(oids)) == 3
    stored = series(thing.plug.id, "temp")
    assert [value for _, value, _ in stored] == [1, 2, 3]
    assert [oid for _, _, oid in stored] == oids
    times = [at for at, _, _ in stored]
    assert strictly_increasing(times) and before <= times[0]


def test_an_array_mixing_given_and_server_times_keeps_the_given_ones(api: APIClient, thing: Enrolled) -> None:
    body = [{"data": "a", "at": 1_700_000_000_000}, {"data": "b"}, {"data": "c"}]
    response = api.put(
        "/iot/data/log", json.dumps(body), content_type="application/json", **plug_headers(thing)
    )
    assert response.status_code == 200, response.content
    stored = series(thing.plug.id, "log")
    assert [value for _, value, _ in stored] == ["a", "b", "c"]
    assert stored[0][0] == 1_700_000_000_000 and stored[1][0] < stored[2][0]


def test_a_feeds_points_without_t_are_all_stored_in_order(api: APIClient, thing: Enrolled) -> None:
    feed = {"dps": [{"v": 10}, {"v": 20}, {"v": 30}, {"v": 40}]}
    response = api.post(
        f"/v3/data/devices/{thing.plug.id}/properties/level", feed, format="json", **plug_headers(thing)
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 4, "rejected": 0}
    stored = series(thing.plug.id, "level")
    assert [value for _, value, _ in stored] == [10, 20, 30, 40]
    assert strictly_increasing([at for at, _, _ in stored])
    assert len({oid for _, _, oid in stored}) == 4


def test_requests_in_quick_succession_never_share_a_server_time(api: APIClient, thing: Enrolled) -> None:
    # Twenty requests of one value each: most fall within a millisecond of the one before on a
    # fast machine; none may replace another.
    for n in range(20):
        response = api.put(
            "/iot/data/count", json.dumps({"data": n}), content_type="application/json", **plug_headers(thing)
        )
        assert response.status_code == 200, response.content
    stored = series(thing.plug.id, "count")
    assert [value for _, value, _ in stored] == list(range(20))


def test_a_group_commit_of_one_series_stores_every_publish(tenant: Tenant, thing: Enrolled) -> None:
    # What the MQTT group commit hands the write service: one submission per PUBLISH, all in
    # one call, one `now`.
    principal = Principal(
        account_id=tenant.account.id, kind="plug", credential=thing.key.id, plug_id=thing.plug.id
    )
    subs = [Submission(principal, [PointIn(channel="hum", data=n)]) for n in range(5)]
    results = points_write_many(submissions=subs, source="mqtt-tcp")
    assert all(r[0].ok for r in results)
    stored = series(thing.plug.id, "hum")
    assert [value for _, value, _ in stored] == [0, 1, 2, 3, 4]
    assert [oid for _, _, oid in stored] == [r[0].id for r in results]


def test_the_clock_is_per_series_and_catches_up_with_the_wall_clock() -> None:
    clock = SeriesClock()
    a, b = ("com-1", "dev-1", "temp"), ("com-1", "dev-1", "hum")
    assert [clock.stamp(a, 100) for _ in range(3)] == [100, 101, 102]
    assert clock.stamp(b, 100) == 100  # another series keeps the wall clock
    assert clock.stamp(a, 101) == 103  # still ahead: one after its last stamp
    assert clock.stamp(a, 500) == 500  # the wall clock passed it
