"""Channel dialect removal: `DELETE /iot/data[/{mask}]` (SPEC §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from data.models import DataPoint, JournalEntry
from devices.models import Control, Plug
from devices.services.plugs import Enrolled
from plugboard.timestamps import now_ms
from tests.conftest import Tenant, plug_headers

pytestmark = pytest.mark.django_db

AT = 1_700_000_000_000


def publish(api: APIClient, headers: dict[str, str], records: list[dict[str, Any]]) -> list[str]:
    response = api.put("/iot/data", json.dumps(records), content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def delete(api: APIClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    raw = "" if body is None else json.dumps(body)
    return api.delete(path, raw, content_type="application/json", **headers)


def removed(api: APIClient, path: str, body: Any, headers: dict[str, str]) -> int:
    response = delete(api, path, body, headers)
    assert response.status_code == 200, response.content
    count = response.json()
    assert isinstance(count, int)
    return count


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"err", "msg"} and body["err"] == status


def left(**lookup: Any) -> list[Any]:
    return sorted(
        DataPoint.objects.filter(**lookup).values_list("data", flat=True),
        key=lambda v: (isinstance(v, str), v),
    )


@pytest.fixture
def oids(api: APIClient, thing: Enrolled) -> list[str]:
    records = [{"channel": "d/a", "data": i, "at": AT + i * 1000} for i in range(5)]
    records += [{"channel": "d/b", "data": 10 + i, "at": AT + i * 1000} for i in range(5)]
    records += [{"channel": "other", "data": 20, "at": AT}]
    return publish(api, plug_headers(thing), records)


def test_by_one_id(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert removed(api, "/iot/data/%23", {"id": oids[0]}, plug_headers(thing)) == 1
    assert 0 not in left()
    assert removed(api, "/iot/data/%23", {"id": oids[0]}, plug_headers(thing)) == 0


def test_by_ids_as_csv_or_array(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert removed(api, "/iot/data", {"id": f"{oids[0]},{oids[1].upper()}"}, plug_headers(thing)) == 2
    assert removed(api, "/iot/data", {"id": [oids[2], oids[3]]}, plug_headers(thing)) == 2
    assert left(channel="d/a") == [4]


def test_the_mask_narrows_the_ids(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert removed(api, "/iot/data/d/b", {"id": [oids[0], oids[5]]}, plug_headers(thing)) == 1
    assert left(channel="d/a") == [0, 1, 2, 3, 4]


def test_by_time(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert removed(api, "/iot/data/d/%2B", {"before": AT + 2000}, plug_headers(thing)) == 4
    assert removed(api, "/iot/data/d/a", {"after": "2023-11-14T22:13:23Z"}, plug_headers(thing)) == 1
    assert removed(api, "/iot/data/d/b", {"at": f"{AT + 2000},{AT + 4000}"}, plug_headers(thing)) == 2
    assert removed(api, "/iot/data/d/b", {"at": [AT + 3000]}, plug_headers(thing)) == 1
    assert left() == [2, 3, 20]


def test_by_oid_bounds(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    ordered = sorted(oids)
    assert removed(api, "/iot/data", {"after": ordered[2], "before": ordered[6]}, plug_headers(thing)) == 3
    assert set(DataPoint.objects.values_list("id", flat=True)) == set(ordered[:3] + ordered[6:])


def test_of_narrows(api: APIClient, tenant: Tenant, thing: Enrolled, oids: list[str]) -> None:
    publish(api, tenant.master_headers(), [{"channel": "d/a", "data": "acc", "at": AT}])
    assert removed(api, "/iot/data/d/a", {"at": AT, "of": tenant.account.id}, tenant.master_headers()) == 1
    assert removed(api, "/iot/data/d/a", {"at": AT, "of": [thing.plug.id]}, tenant.master_headers()) == 1
    assert left(channel="d/a") == [1, 2, 3, 4]


def test_no_mask_is_everything(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert removed(api, "/iot/data", {"before": AT + 1}, plug_headers(thing)) == 3
    assert left() == [1, 2, 3, 4, 11, 12, 13, 14]


def test_each_removal_is_journaled(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    removed(api, "/iot/data/d/a", {"before": AT + 2000}, plug_headers(thing))
    entries = JournalEntry.objects.filter(event="delete").order_by("at")
    assert [(e.point_id, e.channel, e.of, e.at, e.data) for e in entries] == [
        (oids[0], "d/a", thing.plug.id, AT, 0),
        (oids[1], "d/a", thing.plug.id, AT + 1000, 1),
    ]
    assert {(e.source, e.credential) for e in entries} == {("http", thing.plug.id)}


def test_expired_points_are_not_counted(api: APIClient, thing: Enrolled) -> None:
    publish(
        api,
        plug_headers(thing),
        [
            {"channel": "x", "data": 1, "at": AT, "expire_at": now_ms() - 1},
            {"channel": "x", "data": 2, "at": AT + 1},
        ],
    )
    assert removed(api, "/iot/data/x", {"after": 0}, plug_headers(thing)) == 1


def test_filters_from_the_query_string(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    response = api.delete(f"/iot/data/d/a?id={oids[0]},{oids[1]}", **plug_headers(thing))
    assert response.status_code == 200, response.content
    assert response.json() == 2


def test_method_override_post_as_delete(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    response = api.post(
        "/iot/data/d/a",
        json.dumps({"id": oids[0]}),
        content_type="application/json",
        HTTP_X_HTTP_METHOD_OVERRIDE="DELETE",
        **plug_headers(thing),
    )
    assert response.status_code == 200 and response.json() == 1


# --- who removes what -----------------------------------------------------------------------------


def test_a_plug_removes_only_what_it_may_write(
    api: APIClient, tenant: Tenant, thing: Enrolled, oids: list[str]
) -> None:
    sibling = tenant.plug("sibling")
    publish(api, tenant.master_headers(), [{"channel": "d/a", "data": "acc", "at": AT}])
    assert removed(api, "/iot/data/%23", {"id": oids}, plug_headers(sibling)) == 0
    assert removed(api, "/iot/data/%23", {"after": 0}, plug_headers(sibling)) == 0
    assert len(left()) == 12
    # perm.of.w = every plug of the account still leaves the account's own records alone.
    Plug.objects.filter(id=sibling.plug.id).update(perm={"of": {"r": [], "w": None}})
    assert removed(api, "/iot/data/%23", {"after": 0}, plug_headers(sibling)) == 11
    assert left() == ["acc"]


def test_a_controller_needs_write_rights(
    api: APIClient, tenant: Tenant, thing: Enrolled, oids: list[str]
) -> None:
    panel = tenant.plug("panel", kind=Plug.Kind.CONTROLLER)
    control = Control.objects.create(controller=panel.plug, thing=thing.plug, rights="r")
    assert removed(api, "/iot/data/d/a", {"after": 0}, plug_headers(panel)) == 0
    control.rights = "rw"
    control.save()
    assert removed(api, "/iot/data/d/a", {"after": 0}, plug_headers(panel)) == 5


def test_never_across_accounts(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled, oids: list[str]
) -> None:
    assert removed(api, "/iot/data/%23", {"id": oids}, other_tenant.master_headers()) == 0
    assert removed(api, "/iot/data/%23", {"after": 0}, other_tenant.master_headers()) == 0
    assert len(left()) == 11


def test_no_or_wrong_credentials(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    assert_error(delete(api, "/iot/data/%23", {"after": 0}, {}), 401)
    assert_error(delete(api, "/iot/data/%23", {"after": 0}, {"HTTP_X_PLUG_EMAIL": "owner@example.com"}), 401)
    assert len(left()) == 11


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, {}, {"of": "dev-" + "0" * 24}, {"limit": 5}, {"id": ""}, {"at": []}])
def test_one_of_id_before_after_at_is_required(
    api: APIClient, thing: Enrolled, oids: list[str], body: Any
) -> None:
    assert_error(delete(api, "/iot/data/%23", body, plug_headers(thing)), 400)
    assert len(left()) == 11


@pytest.mark.parametrize(
    "body",
    [
        {"id": "nope"},
        {"id": [1, 2]},
        {"id": {"$ne": None}},
        {"before": "soon"},
        {"after": True},
        {"at": "1,two"},
        {"at": [{"ms": 1}]},
        {"before": 0, "of": [1]},
        [],
        "id",
        7,
    ],
)
def test_bad_filters(api: APIClient, thing: Enrolled, oids: list[str], body: Any) -> None:
    assert_error(delete(api, "/iot/data/%23", body, plug_headers(thing)), 400)
    assert len(left()) == 11


def test_body_not_json(api: APIClient, thing: Enrolled, oids: list[str]) -> None:
    response = api.delete("/iot/data/%23", "{id:", content_type="application/json", **plug_headers(thing))
    assert_error(response, 400)


@pytest.mark.parametrize("mask", ["d/%23/a", "d//a", "a+"])
def test_bad_mask(api: APIClient, thing: Enrolled, oids: list[str], mask: str) -> None:
    assert_error(delete(api, f"/iot/data/{mask}", {"after": 0}, plug_headers(thing)), 400)


def test_a_big_removal_takes_a_few_queries(
    api: APIClient, thing: Enrolled, django_assert_max_num_queries: Any
) -> None:
    publish(
        api, plug_headers(thing), [{"channel": f"big/{i % 9}", "data": i, "at": AT + i} for i in range(1000)]
    )
    with django_assert_max_num_queries(10):
        assert removed(api, "/iot/data/big/%23", {"after": 0}, plug_headers(thing)) == 1000
    assert not DataPoint.objects.exists()
    assert JournalEntry.objects.filter(event="delete").count() == 1000
