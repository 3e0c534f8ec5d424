"""Channel dialect reads: `GET /iot/data/{mask}` and `GET /iot/channel[/{mask}]` (SPEC §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from data.models import DataPoint
from devices.models import Control, Plug
from devices.services.plugs import Enrolled
from plugboard.identifiers import new_oid
from plugboard.timestamps import now_ms
from tests.conftest import Tenant, basic, plug_headers

pytestmark = pytest.mark.django_db

AT = 1_700_000_000_000


def publish(api: APIClient, headers: dict[str, str], records: list[dict[str, Any]]) -> list[str]:
    response = api.put("/iot/data", json.dumps(records), content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def get(api: APIClient, path: str, headers: dict[str, str], **query: Any) -> Any:
    response = api.get(path, query, **headers)
    assert response.status_code == 200, response.content
    return response.json()


def channels(api: APIClient, mask: str, headers: dict[str, str], **query: Any) -> list[str]:
    return get(api, f"/iot/channel/{mask}" if mask else "/iot/channel", headers, **query)


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"err", "msg"} and body["err"] == status


CHANNELS = [
    "home",
    "home/door",
    "home/kitchen/temp",
    "home/kitchen/hum",
    "home/living/temp",
    "homeX/temp",
    "Home/temp",
    "office/temp",
    "a.b/c",
    "aXb/c",
    "x(1)/y*",
]


@pytest.fixture
def tree(api: APIClient, thing: Enrolled) -> list[str]:
    publish(api, plug_headers(thing), [{"channel": c, "data": c, "at": AT} for c in CHANNELS])
    return CHANNELS


# --- masks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask,expected",
    [
        ("%23", CHANNELS),
        ("home", ["home"]),
        ("home/%23", ["home", "home/door", "home/kitchen/temp", "home/kitchen/hum", "home/living/temp"]),
        ("home/+", ["home/door"]),
        ("home/+/temp", ["home/kitchen/temp", "home/living/temp"]),
        ("home/kitchen/%23", ["home/kitchen/temp", "home/kitchen/hum"]),
        ("home/+/%23", ["home/door", "home/kitchen/temp", "home/kitchen/hum", "home/living/temp"]),
        ("+", ["home"]),
        ("+/temp", ["homeX/temp", "Home/temp", "office/temp"]),
        ("+/+/temp", ["home/kitchen/temp", "home/living/temp"]),
        ("+/%23", CHANNELS),
        ("a.b/%23", ["a.b/c"]),  # regex metacharacters in a mask are literal
        ("x(1)/%23", ["x(1)/y*"]),
        ("x(1)/y*", ["x(1)/y*"]),
        ("Home/%23", ["Home/temp"]),  # case matters, on SQLite too
        ("home%2Fkitchen%2F%23", ["home/kitchen/temp", "home/kitchen/hum"]),
        ("nothing/%23", []),
    ],
)
def test_masks(api: APIClient, thing: Enrolled, tree: list[str], mask: str, expected: list[str]) -> None:
    got = get(api, f"/iot/data/{mask}", plug_headers(thing))
    assert sorted(p["channel"] for p in got) == sorted(expected)
    assert channels(api, mask, plug_headers(thing)) == sorted(expected)


def test_no_mask_means_everything(api: APIClient, thing: Enrolled, tree: list[str]) -> None:
    assert channels(api, "", plug_headers(thing)) == sorted(CHANNELS)
    assert len(get(api, "/iot/data", plug_headers(thing))) == len(CHANNELS)


@pytest.mark.parametrize("mask", ["home/%23/temp", "home%23", "a+/b", "a//b", "home/", "%23/%23", "x" * 201])
def test_bad_masks(api: APIClient, thing: Enrolled, mask: str) -> None:
    assert_error(api.get(f"/iot/data/{mask}", **plug_headers(thing)), 400)
    assert_error(api.get(f"/iot/channel/{mask}", **plug_headers(thing)), 400)


# --- the records ----------------------------------------------------------------------------------


def test_record_shape_and_newest_first(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    mine = publish(
        api,
        plug_headers(thing),
        [
            {"channel": "t", "data": {"v": 1}, "at": AT},
            {"channel": "t", "data": [2], "at": AT + 2, "expire_at": 4_102_444_800_000},
            {"channel": "t", "data": "same ms", "at": AT + 1},
        ],
    )
    (account,) = publish(api, tenant.master_headers(), [{"channel": "t", "data": None, "at": AT + 1}])
    got = get(api, "/iot/data/t", tenant.master_headers())
    assert got[0] == {
        "id": mine[1],
        "channel": "t",
        "data": [2],
        "at": AT + 2,
        "of": thing.plug.id,
        "expire_at": 4_102_444_800_000,
    }
    # Same `at`: the higher id first.
    same = sorted([(mine[2], "same ms", thing.plug.id), (account, None, tenant.account.id)], reverse=True)
    assert [(p["id"], p["data"], p["of"]) for p in got[1:3]] == same
    assert got[3] == {"id": mine[0], "channel": "t", "data": {"v": 1}, "at": AT, "of": thing.plug.id}
    assert all("expire_at" not in p for p in got[1:])


def test_expired_points_are_never_returned(api: APIClient, thing: Enrolled) -> None:
    now = now_ms()
    publish(
        api,
        plug_headers(thing),
        [
            {"channel": "e", "data": "gone", "at": AT, "expire_at": now - 1},
            {"channel": "e", "data": "alive", "at": AT + 1, "expire_at": now + 3_600_000},
            {"channel": "f", "data": "gone too", "at": AT, "expire_at": AT + 1},
        ],
    )
    assert DataPoint.objects.count() == 3  # the purge has not run
    assert [p["data"] for p in get(api, "/iot/data/%23", plug_headers(thing))] == ["alive"]
    assert channels(api, "%23", plug_headers(thing)) == ["e"]


@pytest.fixture
def series(api: APIClient, tenant: Tenant, thing: Enrolled) -> dict[str, Any]:
    other = tenant.plug("other")
    mine = publish(
        api, plug_headers(thing), [{"channel": "s", "data": i, "at": AT + i * 1000} for i in range(10)]
    )
    theirs = publish(
        api, plug_headers(other), [{"channel": "s", "data": 100 + i, "at": AT + i * 1000} for i in range(3)]
    )
    return {"mine": mine, "theirs": theirs, "other": other}


def values(api: APIClient, tenant: Tenant, **query: Any) -> list[Any]:
    return [p["data"] for p in get(api, "/iot/data/s", tenant.master_headers(), **query)]


def test_before_and_after_timestamps_are_strict(
    api: APIClient, tenant: Tenant, thing: Enrolled, series: dict[str, Any]
) -> None:
    assert values(api, tenant, before=AT + 2000, of=thing.plug.id) == [1, 0]
    assert values(api, tenant, after=AT + 7000, of=thing.plug.id) == [9, 8]
    assert values(api, tenant, after=AT + 2000, before=AT + 5000, of=thing.plug.id) == [4, 3]
    assert values(api, tenant, after="2023-11-14T22:13:27Z", of=thing.plug.id) == [9, 8]
    assert values(api, tenant, before=str(AT + 1000)) == [100, 0]


def test_before_and_after_oids_compare_ids(api: APIClient, tenant: Tenant, series: dict[str, Any]) -> None:
    ids = sorted(series["mine"] + series["theirs"])
    got = get(api, "/iot/data/s", tenant.master_headers(), after=ids[4], before=ids[8].upper(), limit=0)
    assert sorted(p["id"] for p in got) == ids[5:8]
    # An OID's first 8 hex digits are seconds: a made-up OID from the future is "after everything".
    assert get(api, "/iot/data/s", tenant.master_headers(), after=new_oid(now_ms() + 86_400_000)) == []
    assert len(get(api, "/iot/data/s", tenant.master_headers(), before=new_oid(now_ms() + 86_400_000))) == 13


def test_at_csv_and_of_csv(api: APIClient, tenant: Tenant, thing: Enrolled, series: dict[str, Any]) -> None:
    assert values(api, tenant, at=f"{AT},{AT + 3000}") == [3, 100, 0]
    assert values(api, tenant, at=f"{AT},2023-11-14T22:13:23Z", of=thing.plug.id) == [3, 0]
    assert values(api, tenant, of=series["other"].plug.id) == [102, 101, 100]
    assert len(values(api, tenant, of=f"{thing.plug.id},{series['other'].plug.id}")) == 13
    assert values(api, tenant, of="dev-" + "0" * 24) == []


def test_offset_and_limit(
    api: APIClient, tenant: Tenant, thing: Enrolled, series: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert values(api, tenant, of=thing.plug.id, limit=3) == [9, 8, 7]
    assert values(api, tenant, of=thing.plug.id, limit=3, offset=3) == [6, 5, 4]
    assert values(api, tenant, of=thing.plug.id, offset=8) == [1, 0]
    assert len(values(api, tenant, limit=0)) == 13
    monkeypatch.setattr("data.channel_api.DEFAULT_LIMIT", 5)
    assert len(values(api, tenant)) == 5  # no limit given: the default bound
    assert len(values(api, tenant, limit=0)) == 13  # 0 lifts it
    assert len(values(api, tenant, limit=0, offset=10)) == 3


@pytest.mark.parametrize(
    "query",
    [
        {"before": "yesterday"},
        {"after": "12ab"},
        {"before": "-1"},
        {"at": "1,x"},
        {"at": "99999999999999999999"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "99999999999999999999"},
        {"offset": "1.5"},
        {"offset": "-3"},
    ],
)
def test_bad_filters(api: APIClient, tenant: Tenant, query: dict[str, str]) -> None:
    assert_error(api.get("/iot/data/s", query, **tenant.master_headers()), 400)
    assert_error(api.get("/iot/channel/s", query, **tenant.master_headers()), 400)


def test_no_or_wrong_credentials(api: APIClient, thing: Enrolled) -> None:
    assert_error(api.get("/iot/data/%23"), 401)
    assert_error(api.get("/iot/channel", HTTP_X_PLUG_ID=thing.plug.id, HTTP_X_PLUG_AUTH="wrong"), 401)


def test_method_override_post_as_get(api: APIClient, thing: Enrolled) -> None:
    publish(api, plug_headers(thing), [{"channel": "ov", "data": 1}])
    for path in ["/iot/data/ov", "/iot/channel/%23"]:
        response = api.post(path, HTTP_X_HTTP_METHOD_OVERRIDE="GET", **plug_headers(thing))
        assert response.status_code == 200, response.content
        assert len(response.json()) == 1


# --- who reads what -------------------------------------------------------------------------------


@pytest.fixture
def world(api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled) -> dict[str, Enrolled]:
    sibling = tenant.plug("sibling")
    stranger = other_tenant.plug("stranger")
    publish(api, plug_headers(thing), [{"channel": "w/thing", "data": 1}])
    publish(api, plug_headers(sibling), [{"channel": "w/sibling", "data": 2}])
    publish(api, tenant.master_headers(), [{"channel": "w/account", "data": 3}])
    publish(api, plug_headers(stranger), [{"channel": "w/stranger", "data": 4}])
    publish(api, other_tenant.master_headers(), [{"channel": "w/their-account", "data": 5}])
    return {"thing": thing, "sibling": sibling, "stranger": stranger}


def readable(api: APIClient, headers: dict[str, str], **query: Any) -> list[str]:
    from_data = sorted(p["channel"] for p in get(api, "/iot/data/w/%23", headers, **query))
    assert channels(api, "w/%23", headers, **query) == from_data
    return from_data


def test_the_account_reads_everything_of_its_own(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, world: dict[str, Enrolled]
) -> None:
    assert readable(api, tenant.master_headers()) == ["w/account", "w/sibling", "w/thing"]
    assert readable(api, other_tenant.master_headers()) == ["w/stranger", "w/their-account"]
    key_id, secret = tenant.user_key()
    assert readable(api, basic(key_id, secret)) == ["w/account", "w/sibling", "w/thing"]


def test_a_plug_reads_its_own(api: APIClient, world: dict[str, Enrolled]) -> None:
    assert readable(api, plug_headers(world["thing"])) == ["w/thing"]
    assert readable(api, plug_headers(world["sibling"])) == ["w/sibling"]


def test_never_another_accounts_data(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, world: dict[str, Enrolled]
) -> None:
    stranger = world["stranger"].plug.id
    assert readable(api, tenant.master_headers(), of=f"{stranger},{other_tenant.account.id}") == []
    assert all(p["of"] != stranger for p in get(api, "/iot/data/%23", tenant.master_headers(), limit=0))


def test_perm_of_r_extends_a_plugs_reach(api: APIClient, tenant: Tenant, world: dict[str, Enrolled]) -> None:
    Plug.objects.filter(id=world["thing"].plug.id).update(
        perm={"of": {"r": [world["sibling"].plug.id], "w": []}}
    )
    assert readable(api, plug_headers(world["thing"])) == ["w/sibling", "w/thing"]
    Plug.objects.filter(id=world["thing"].plug.id).update(perm={"of": {"r": None, "w": []}})
    assert readable(api, plug_headers(world["thing"])) == ["w/account", "w/sibling", "w/thing"]


def test_a_controller_reads_what_it_controls(
    api: APIClient, tenant: Tenant, world: dict[str, Enrolled]
) -> None:
    panel = tenant.plug("panel", kind=Plug.Kind.CONTROLLER)
    publish(api, plug_headers(panel), [{"channel": "w/panel", "data": 6}])
    Control.objects.create(controller=panel.plug, thing=world["thing"].plug, rights="r")
    Control.objects.create(controller=panel.plug, thing=world["sibling"].plug, rights="")
    assert readable(api, plug_headers(panel)) == ["w/panel", "w/thing"]


# --- cost -----------------------------------------------------------------------------------------


def test_reads_take_a_few_queries(
    api: APIClient, tenant: Tenant, thing: Enrolled, django_assert_max_num_queries: Any
) -> None:
    publish(
        api, plug_headers(thing), [{"channel": f"q/{i % 7}", "data": i, "at": AT + i} for i in range(300)]
    )
    with django_assert_max_num_queries(4):  # credentials, perm, control, points
        assert len(get(api, "/iot/data/q/+", plug_headers(thing), limit=0)) == 300
    with django_assert_max_num_queries(4):
        assert len(channels(api, "q/%23", plug_headers(thing))) == 7
    with django_assert_max_num_queries(2):  # credentials, points
        assert len(get(api, "/iot/data/q/%23", tenant.master_headers(), limit=0)) == 300
