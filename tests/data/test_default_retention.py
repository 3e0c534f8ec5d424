"""An account's default retention (SPEC §4 rule 3): `expire_at`, else `ttl`, else the property's
retention, else the account's default retention, else none — on every write path, with no
extra query for points on plugs (the account comes with the plugs the write reads anyway)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from data.models import DataPoint
from data.services import PointIn, points_write
from devices.models import Property
from devices.services.plugs import Enrolled
from plugboard.principals import Principal
from plugboard.timestamps import now_ms
from tests.conftest import Tenant, plug_headers

DAY = 86400


def _as_plug(enrolled: Enrolled) -> Principal:
    plug = enrolled.plug
    return Principal(
        account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id, plug_ids=(plug.id,)
    )


def _as_account(tenant: Tenant) -> Principal:
    return Principal(account_id=tenant.account.id, kind="account", credential=tenant.account.email)


def _lifetime(point: DataPoint) -> int | None:
    return None if point.expire_at is None else point.expire_at - point.at


@pytest.fixture
def defaulted(tenant: Tenant) -> Tenant:
    tenant.account.default_retention = 7 * DAY
    tenant.account.save()
    return tenant


def test_the_order_expire_at_ttl_property_account(defaulted: Tenant, thing: Enrolled) -> None:
    Property.objects.create(plug=thing.plug, name="kept", retention=3600)
    now = now_ms()
    points = [
        PointIn(channel="plain", data=1, at=now),
        PointIn(channel="kept", data=2, at=now),
        PointIn(channel="plain", data=3, at=now + 1, ttl=60),
        PointIn(channel="plain", data=4, at=now + 2, expire_at=now + 5000),
    ]
    assert all(r.ok for r in points_write(principal=_as_plug(thing), points=points, source="http"))
    after = now_ms()
    lifetimes = {p.data: _lifetime(p) for p in DataPoint.objects.all()}
    assert lifetimes[1] == 7 * DAY * 1000 and lifetimes[2] == 3600 * 1000 and lifetimes[4] == 4998
    ttl_expiry = DataPoint.objects.get(data=3).expire_at  # ttl counts from the server's now
    assert now + 60_000 <= ttl_expiry <= after + 60_000


def test_points_on_no_plug_take_the_account_default(defaulted: Tenant) -> None:
    point = PointIn(channel="site/energy", data=5, at=now_ms())
    assert points_write(principal=_as_account(defaulted), points=[point], source="http")[0].ok
    stored = DataPoint.objects.get()
    assert stored.of == defaulted.account.id and _lifetime(stored) == 7 * DAY * 1000


def test_without_a_default_points_are_kept(tenant: Tenant, thing: Enrolled) -> None:
    points_write(principal=_as_plug(thing), points=[PointIn(channel="t", data=1)], source="http")
    points_write(principal=_as_account(tenant), points=[PointIn(channel="site", data=1)], source="http")
    assert list(DataPoint.objects.values_list("expire_at", flat=True)) == [None, None]


def test_a_changed_default_applies_to_later_points(tenant: Tenant, thing: Enrolled) -> None:
    points_write(principal=_as_plug(thing), points=[PointIn(channel="t", data=1)], source="http")
    tenant.account.default_retention = 60
    tenant.account.save()
    points_write(principal=_as_plug(thing), points=[PointIn(channel="t", data=2)], source="http")
    lifetimes = {p.data: _lifetime(p) for p in DataPoint.objects.all()}
    assert lifetimes == {1: None, 2: 60_000}


def test_each_account_its_own_default(defaulted: Tenant, other_tenant: Tenant) -> None:
    other = other_tenant.plug("neighbour")
    mine = defaulted.plug("mine")
    points_write(principal=_as_plug(mine), points=[PointIn(channel="t", data="mine")], source="http")
    points_write(principal=_as_plug(other), points=[PointIn(channel="t", data="other")], source="http")
    lifetimes = {p.data: _lifetime(p) for p in DataPoint.objects.all()}
    assert lifetimes == {"mine": 7 * DAY * 1000, "other": None}


def _queries(principal: Principal, points: list[PointIn]) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert all(r.ok for r in points_write(principal=principal, points=points, source="http"))
    return len(captured.captured_queries)


def test_no_extra_query_for_points_on_plugs(tenant: Tenant, thing: Enrolled) -> None:
    principal = _as_plug(thing)
    _queries(principal, [PointIn(channel="t", data=0)])  # creates the property
    without = _queries(principal, [PointIn(channel="t", data=i, at=1000 + i) for i in range(20)])
    tenant.account.default_retention = DAY
    tenant.account.save()
    with_default = _queries(principal, [PointIn(channel="t", data=i, at=5000 + i) for i in range(20)])
    assert with_default == without
    assert DataPoint.objects.filter(expire_at__isnull=False).count() == 20


def test_points_on_no_plug_cost_one_query_per_batch(defaulted: Tenant) -> None:
    principal = _as_account(defaulted)
    one = _queries(principal, [PointIn(channel="site", data=0, at=1)])
    many = _queries(principal, [PointIn(channel="site", data=i, at=100 + i) for i in range(50)])
    assert many == one
    assert DataPoint.objects.filter(expire_at__isnull=True).count() == 0


def test_over_http_and_expired_points_are_not_read(
    api: APIClient, defaulted: Tenant, thing: Enrolled
) -> None:
    defaulted.account.default_retention = 1
    defaulted.account.save()
    old = now_ms() - 5000
    body = {"dps": [{"t": old, "v": 1}]}
    url = "/v3/data/devices/_this_/properties/temperature"
    response = api.post(url, data=body, format="json", **plug_headers(thing))
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    assert _lifetime(DataPoint.objects.get()) == 1000
    read: Any = api.get(url, **plug_headers(thing)).json()
    assert read["results"] == []
