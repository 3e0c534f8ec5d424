"""Channel dialect publish: `PUT /iot/data[/{channel}]` (SPEC §4, §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from data.models import DataPoint, JournalEntry
from devices.models import Control, Plug
from devices.services.plugs import Enrolled
from plugboard.identifiers import is_oid, oid_seconds
from tests.conftest import Tenant, basic, plug_headers

pytestmark = pytest.mark.django_db

AT = 1_700_000_000_000


def put(api: APIClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.put(path, json.dumps(body), content_type="application/json", **headers)


def put_raw(api: APIClient, path: str, raw: str | bytes, headers: dict[str, str]) -> Any:
    return api.put(path, raw, content_type="application/json", **headers)


def stored(**lookup: Any) -> list[DataPoint]:
    return list(DataPoint.objects.filter(**lookup).order_by("at", "id"))


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"err", "msg"}
    assert body["err"] == status and body["msg"]
    return body


def control(controller: Enrolled, thing: Enrolled, rights: str = "rw") -> None:
    Control.objects.create(controller=controller.plug, thing=thing.plug, rights=rights)


# --- the shapes of a publish ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [True, False, 21.5, -3, 0, "on", "", {"t": 21.5, "u": "C"}, [1, "two", None], None]
)
def test_one_record_any_json_value(api: APIClient, thing: Enrolled, value: Any) -> None:
    response = put(api, "/iot/data/home/temp", {"data": value, "at": AT}, plug_headers(thing))
    assert response.status_code == 200, response.content
    oid = response.json()
    assert isinstance(oid, str) and is_oid(oid)
    (point,) = stored(id=oid)
    assert (point.channel, point.of, point.at, point.data) == ("home/temp", thing.plug.id, AT, value)


def test_channel_in_the_body_overrides_the_url(api: APIClient, thing: Enrolled) -> None:
    response = put(api, "/iot/data/from/url", {"channel": "from/body", "data": 1}, plug_headers(thing))
    assert response.status_code == 200
    assert DataPoint.objects.get(id=response.json()).channel == "from/body"
    response = put(api, "/iot/data", {"channel": "no/url", "data": 2}, plug_headers(thing))
    assert response.status_code == 200
    assert DataPoint.objects.get(id=response.json()).channel == "no/url"


def test_array_from_one_source(api: APIClient, thing: Enrolled) -> None:
    body = [{"channel": "a", "data": i, "at": AT + i} for i in range(5)]
    response = put(api, "/iot/data", body, plug_headers(thing))
    assert response.status_code == 200, response.content
    oids = response.json()
    assert len(oids) == 5 and all(is_oid(o) for o in oids)
    assert [p.data for p in stored(of=thing.plug.id)] == [0, 1, 2, 3, 4]
    assert [DataPoint.objects.get(id=o).data for o in oids] == [0, 1, 2, 3, 4]


def test_one_record_per_source_from_several_sources(api: APIClient, tenant: Tenant) -> None:
    first, second = tenant.plug("first"), tenant.plug("second")
    body = [
        {"channel": "temp", "data": 1, "of": first.plug.id},
        {"channel": "temp", "data": 2, "of": second.plug.id},
        {"channel": "temp", "data": 3},  # the account's own record
    ]
    response = put(api, "/iot/data", body, tenant.master_headers())
    assert response.status_code == 200, response.content
    ofs = [DataPoint.objects.get(id=o).of for o in response.json()]
    assert ofs == [first.plug.id, second.plug.id, tenant.account.id]


def test_array_from_several_sources_by_a_controller(api: APIClient, tenant: Tenant) -> None:
    panel = tenant.plug("panel", kind=Plug.Kind.CONTROLLER)
    lamp, fan = tenant.plug("lamp"), tenant.plug("fan")
    control(panel, lamp)
    control(panel, fan)
    body = [
        {"channel": "state", "data": d, "at": AT + i, "of": of}
        for i, (of, d) in enumerate(
            [(lamp.plug.id, "on"), (fan.plug.id, 3), (lamp.plug.id, "off"), (panel.plug.id, "ok")]
        )
    ]
    response = put(api, "/iot/data/ignored", body, plug_headers(panel))
    assert response.status_code == 200, response.content
    assert [p.data for p in stored(of=lamp.plug.id)] == ["on", "off"]
    assert [p.data for p in stored(of=fan.plug.id)] == [3]
    assert [p.data for p in stored(of=panel.plug.id)] == ["ok"]


def test_object_body_for_another_plug_is_one_oid(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    response = put(api, "/iot/data/x", {"data": 1, "of": thing.plug.id}, tenant.master_headers())
    assert response.status_code == 200
    assert DataPoint.objects.get(id=response.json()).of == thing.plug.id


# --- at, expire_at, ttl, id -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        AT,
        str(AT),
        float(AT),
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20.000+00:00",
        "2023-11-14T23:13:20+01:00",
    ],
)
def test_at_as_ms_numeric_string_or_iso(api: APIClient, thing: Enrolled, at: Any) -> None:
    response = put(api, "/iot/data/t", {"data": 1, "at": at}, plug_headers(thing))
    assert response.status_code == 200, response.content
    assert DataPoint.objects.get(id=response.json()).at == AT


def test_at_defaults_to_server_time(api: APIClient, thing: Enrolled) -> None:
    response = put(api, "/iot/data/t", {"data": 1}, plug_headers(thing))
    point = DataPoint.objects.get(id=response.json())
    assert abs(point.at // 1000 - oid_seconds(point.id)) <= 1


def test_expire_at_and_ttl(api: APIClient, thing: Enrolled) -> None:
    body = [
        {"channel": "e", "data": 1, "at": AT, "expire_at": AT + 60_000},
        {"channel": "e", "data": 2, "at": AT + 1, "ttl": 30},
        {"channel": "e", "data": 3, "at": AT + 2, "ttl": 30, "expire_at": "2100-01-01T00:00:00Z"},
        {"channel": "e", "data": 4, "at": AT + 3},
    ]
    response = put(api, "/iot/data", body, plug_headers(thing))
    assert response.status_code == 200, response.content
    points = [DataPoint.objects.get(id=o) for o in response.json()]
    assert points[0].expire_at == AT + 60_000
    assert points[1].expire_at is not None and points[1].expire_at > AT  # now + 30 s
    assert points[2].expire_at == 4_102_444_800_000  # ttl ignored when expire_at is given
    assert points[3].expire_at is None


def test_id_modifies_an_earlier_record(api: APIClient, thing: Enrolled) -> None:
    oid = put(api, "/iot/data/m", {"data": "old", "at": AT}, plug_headers(thing)).json()
    response = put(api, "/iot/data/m", {"data": "new", "id": oid}, plug_headers(thing))
    assert response.status_code == 200, response.content
    assert response.json() == oid
    (point,) = stored(channel="m")
    assert (point.id, point.data, point.at) == (oid, "new", AT)  # the key stays unless named


def test_id_moves_a_record_to_another_channel_and_time(api: APIClient, thing: Enrolled) -> None:
    oid = put(api, "/iot/data/m", {"data": "old", "at": AT}, plug_headers(thing)).json()
    response = put(
        api, "/iot/data", {"channel": "n", "data": "new", "id": oid, "at": AT + 9}, plug_headers(thing)
    )
    assert response.json() == oid
    point = DataPoint.objects.get(id=oid)
    assert (point.channel, point.at, point.data) == ("n", AT + 9, "new")


def test_id_moved_onto_a_taken_key_replaces_that_point(api: APIClient, thing: Enrolled) -> None:
    moved = put(api, "/iot/data/m", {"data": "a", "at": AT}, plug_headers(thing)).json()
    put(api, "/iot/data/m", {"data": "b", "at": AT + 1}, plug_headers(thing))
    response = put(api, "/iot/data/m", {"data": "a2", "id": moved, "at": AT + 1}, plug_headers(thing))
    assert response.status_code == 200, response.content
    assert [(p.id, p.at, p.data) for p in stored(channel="m")] == [(moved, AT + 1, "a2")]


def test_same_millisecond_overwrites_and_keeps_the_oid(api: APIClient, thing: Enrolled) -> None:
    first = put(api, "/iot/data/same", {"data": 1, "at": AT}, plug_headers(thing)).json()
    second = put(api, "/iot/data/same", {"data": 2, "at": AT}, plug_headers(thing)).json()
    assert first == second
    (point,) = stored(channel="same")
    assert point.data == 2


def test_same_millisecond_other_publisher_is_another_point(
    api: APIClient, tenant: Tenant, thing: Enrolled
) -> None:
    mine = put(api, "/iot/data/same", {"data": 1, "at": AT}, plug_headers(thing)).json()
    account = put(api, "/iot/data/same", {"data": 2, "at": AT}, tenant.master_headers()).json()
    assert mine != account
    assert len(stored(channel="same")) == 2


def test_same_millisecond_within_one_array(api: APIClient, thing: Enrolled) -> None:
    body = [{"channel": "dup", "data": 1, "at": AT}, {"channel": "dup", "data": 2, "at": AT}]
    response = put(api, "/iot/data", body, plug_headers(thing))
    assert response.status_code == 200
    first, second = response.json()
    assert first == second
    assert [p.data for p in stored(channel="dup")] == [2]


def test_every_accepted_write_is_journaled(api: APIClient, thing: Enrolled) -> None:
    put(api, "/iot/data/j", {"data": 1, "at": AT}, plug_headers(thing))
    put(api, "/iot/data/j", {"data": 2, "at": AT}, plug_headers(thing))  # overwrite: journaled too
    put(api, "/iot/data/j", [{"data": 3, "at": AT + 1}, {"data": 4, "channel": "bad/+"}], plug_headers(thing))
    entries = list(JournalEntry.objects.filter(channel="j").order_by("id"))
    assert [e.data for e in entries] == [1, 2, 3]
    assert {(e.event, e.source, e.credential, e.of) for e in entries} == {
        ("data", "http", thing.plug.id, thing.plug.id)
    }
    assert not JournalEntry.objects.filter(channel="bad/+").exists()


# --- credentials and permission ------------------------------------------------------------------


def test_every_credential_form_publishes(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    key_id, key_secret = tenant.user_key()
    forms = [
        plug_headers(thing),
        {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_MASTER": tenant.password},
        tenant.master_headers(),
        basic(tenant.email, tenant.password),
        basic(thing.plug.id, thing.auth),
        basic(key_id, key_secret),
    ]
    for i, headers in enumerate(forms):
        response = put(api, "/iot/data/c", {"data": i, "at": AT + i}, headers)
        assert response.status_code == 200, (i, response.content)
    assert len(stored(channel="c")) == len(forms)


def test_no_or_wrong_credentials(api: APIClient, thing: Enrolled) -> None:
    assert_error(put(api, "/iot/data/c", {"data": 1}, {}), 401)
    bad = {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_AUTH": "nope"}
    assert_error(put(api, "/iot/data/c", {"data": 1}, bad), 401)
    assert not DataPoint.objects.exists()


def test_plug_may_not_publish_for_a_sibling(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    sibling = tenant.plug("sibling")
    assert_error(put(api, "/iot/data/c", {"data": 1, "of": sibling.plug.id}, plug_headers(thing)), 403)
    assert_error(put(api, "/iot/data/c", {"data": 1, "of": tenant.account.id}, plug_headers(thing)), 403)
    assert not DataPoint.objects.exists()


def test_perm_of_w_lets_a_plug_publish_for_another(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    writer = tenant.plug("writer", perm={"of": {"w": [thing.plug.id]}})
    response = put(api, "/iot/data/c", {"data": 1, "of": thing.plug.id}, plug_headers(writer))
    assert response.status_code == 200, response.content
    assert DataPoint.objects.get(id=response.json()).of == thing.plug.id


def test_controller_needs_write_rights(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    panel = tenant.plug("panel", kind=Plug.Kind.CONTROLLER)
    control(panel, thing, rights="r")
    assert_error(put(api, "/iot/data/c", {"data": 1, "of": thing.plug.id}, plug_headers(panel)), 403)


def test_never_across_accounts(api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled) -> None:
    theirs = other_tenant.plug("theirs")
    body = [{"channel": "x", "data": 1}, {"channel": "x", "data": 2, "of": theirs.plug.id}]
    response = put(api, "/iot/data", body, tenant.master_headers())
    assert response.status_code == 207
    ok, refused = response.json()
    assert is_oid(ok) and refused["err"] == 403 and set(refused) == {"err", "msg"}
    assert_error(put(api, "/iot/data/x", {"data": 1, "of": theirs.plug.id}, tenant.master_headers()), 403)
    assert_error(
        put(api, "/iot/data/x", {"data": 1, "of": other_tenant.account.id}, tenant.master_headers()), 403
    )
    assert not DataPoint.objects.filter(account_id=other_tenant.account.id).exists()


def test_id_of_another_accounts_record(api: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = other_tenant.plug("theirs")
    oid = put(api, "/iot/data/x", {"data": "secret", "at": AT}, plug_headers(theirs)).json()
    assert_error(put(api, "/iot/data/x", {"data": "mine", "id": oid}, tenant.master_headers()), 404)
    assert DataPoint.objects.get(id=oid).data == "secret"
    assert_error(put(api, "/iot/data/x", {"data": 1, "id": "not-an-oid"}, tenant.master_headers()), 400)
    assert_error(put(api, "/iot/data/x", {"data": 1, "id": "0" * 24}, tenant.master_headers()), 404)


def test_disabled_plug_is_refused(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    Plug.objects.filter(id=thing.plug.id).update(status=Plug.Status.DISABLED)
    assert_error(put(api, "/iot/data/x", {"data": 1}, plug_headers(thing)), 403)
    assert_error(put(api, "/iot/data/x", {"data": 1, "of": thing.plug.id}, tenant.master_headers()), 403)


# --- bad input: the error shape, nothing lost ----------------------------------------------------


@pytest.mark.parametrize(
    "channel",
    ["home/+/temp", "home/#", "a+b", "#", "a//b", "/a", "a/", "", "x" * 201, "é" * 101, "tab\there"],
)
def test_bad_publish_channels(api: APIClient, thing: Enrolled, channel: str) -> None:
    assert_error(put(api, "/iot/data", {"channel": channel, "data": 1}, plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()


def test_wildcards_and_empty_levels_in_the_url(api: APIClient, thing: Enrolled) -> None:
    for path in ["/iot/data/home/+", "/iot/data/home/%23", "/iot/data/a//b", "/iot/data/a/"]:
        assert_error(put(api, path, {"data": 1}, plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()


def test_channel_of_200_bytes_is_fine(api: APIClient, thing: Enrolled) -> None:
    for channel in ["/".join(["abcdefghi"] * 20) + "z", "é" * 100]:
        assert len(channel.encode()) == 200
        assert put(api, "/iot/data", {"channel": channel, "data": 1}, plug_headers(thing)).status_code == 200


def test_no_channel_at_all(api: APIClient, thing: Enrolled) -> None:
    assert_error(put(api, "/iot/data", {"data": 1}, plug_headers(thing)), 400)


def test_data_missing(api: APIClient, thing: Enrolled) -> None:
    body = assert_error(put(api, "/iot/data/x", {"at": AT}, plug_headers(thing)), 400)
    assert "data" in body["msg"]


@pytest.mark.parametrize("raw", ["{", "{'data': 1}", "NaN", '{"data": NaN}', '{"data": Infinity}', "\xff"])
def test_body_not_json(api: APIClient, thing: Enrolled, raw: str) -> None:
    assert_error(put_raw(api, "/iot/data/x", raw.encode("latin-1"), plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()


def test_empty_body(api: APIClient, thing: Enrolled) -> None:
    assert_error(put_raw(api, "/iot/data/x", "", plug_headers(thing)), 400)


@pytest.mark.parametrize("body", [1, "text", True, None])
def test_body_neither_object_nor_array(api: APIClient, thing: Enrolled, body: Any) -> None:
    assert_error(put(api, "/iot/data/x", body, plug_headers(thing)), 400)


@pytest.mark.parametrize(
    "at", ["yesterday", "2023-13-45", True, [AT], {"ms": AT}, -1, 1e20, "1e30", 17_000_000_000_000_000, "-5"]
)
def test_at_unparsable_or_absurd(api: APIClient, thing: Enrolled, at: Any) -> None:
    assert_error(put(api, "/iot/data/x", {"data": 1, "at": at}, plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()


@pytest.mark.parametrize("field,value", [("expire_at", "soon"), ("ttl", "ten"), ("ttl", -1), ("of", 5)])
def test_other_bad_fields(api: APIClient, thing: Enrolled, field: str, value: Any) -> None:
    assert_error(put(api, "/iot/data/x", {"data": 1, field: value}, plug_headers(thing)), 400)


def test_of_unknown_plug(api: APIClient, tenant: Tenant) -> None:
    assert_error(put(api, "/iot/data/x", {"data": 1, "of": "dev-" + "0" * 24}, tenant.master_headers()), 403)


def test_value_too_large(api: APIClient, thing: Enrolled) -> None:
    with override_settings(PLUGBOARD={**settings.PLUGBOARD, "MAX_VALUE_BYTES": 100}):
        assert_error(put(api, "/iot/data/x", {"data": "x" * 200}, plug_headers(thing)), 413)


def test_empty_array(api: APIClient, thing: Enrolled) -> None:
    assert_error(put(api, "/iot/data/x", [], plug_headers(thing)), 400)


def test_array_over_the_batch_limit(api: APIClient, thing: Enrolled, settings: Any) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "MAX_BATCH": 3}
    body = [{"data": i, "at": AT + i} for i in range(4)]
    assert_error(put(api, "/iot/data/x", body, plug_headers(thing)), 413)
    assert not DataPoint.objects.exists()
    assert put(api, "/iot/data/x", body[:3], plug_headers(thing)).status_code == 200


def test_mixed_array_stores_the_valid_items(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    sibling = tenant.plug("sibling")
    body = [
        {"channel": "ok", "data": 1, "at": AT},
        {"channel": "bad/#", "data": 2},
        {"channel": "ok", "at": AT + 1},
        "not a record",
        {"channel": "ok", "data": 3, "at": "never"},
        {"channel": "ok", "data": 4, "of": sibling.plug.id},
        {"channel": "ok", "data": 5, "at": AT + 5},
    ]
    response = put(api, "/iot/data", body, plug_headers(thing))
    assert response.status_code == 207, response.content
    items = response.json()
    assert len(items) == len(body)
    assert is_oid(items[0]) and is_oid(items[6])
    assert [items[i]["err"] for i in (1, 2, 3, 4, 5)] == [400, 400, 400, 400, 403]
    assert all(set(items[i]) == {"err", "msg"} for i in (1, 2, 3, 4, 5))
    assert [p.data for p in stored(channel="ok")] == [1, 5]


def test_array_with_no_valid_item(api: APIClient, thing: Enrolled) -> None:
    body = assert_error(
        put(api, "/iot/data", [{"data": 1}, {"channel": "a/+", "data": 2}, 7], plug_headers(thing)), 400
    )
    assert "#0" in body["msg"] and "#2" in body["msg"]
    assert not DataPoint.objects.exists()


# --- transport details ---------------------------------------------------------------------------


def test_percent_encoded_slash_is_a_level_separator(api: APIClient, thing: Enrolled) -> None:
    response = put(api, "/iot/data/home%2Fkitchen%2Ftemp", {"data": 1}, plug_headers(thing))
    assert response.status_code == 200, response.content
    assert DataPoint.objects.get(id=response.json()).channel == "home/kitchen/temp"
    response = put(api, "/iot/data/caf%C3%A9/a%20b%3Fc", {"data": 1}, plug_headers(thing))
    assert DataPoint.objects.get(id=response.json()).channel == "café/a b?c"


def test_content_type_is_not_required(api: APIClient, thing: Enrolled) -> None:
    response = api.generic("PUT", "/iot/data/x", '{"data": 1}', content_type="", **plug_headers(thing))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_form_or_text_content_type_is_a_415(api: APIClient, thing: Enrolled, content_type: str) -> None:
    # What an HTML form on another site can send is never a write (issue 24: forged requests).
    response = api.put("/iot/data/x", '{"data": 1}', content_type=content_type, **plug_headers(thing))
    assert response.status_code == 415
    assert response.json() == {
        "err": 415,
        "msg": f"Content-Type {content_type} is not accepted: send application/json",
    }
    assert not DataPoint.objects.exists()


def test_method_override_post_as_put(api: APIClient, thing: Enrolled) -> None:
    response = api.post(
        "/iot/data/ov",
        json.dumps({"data": 1}),
        content_type="application/json",
        HTTP_X_HTTP_METHOD_OVERRIDE="PUT",
        **plug_headers(thing),
    )
    assert response.status_code == 200, response.content
    assert DataPoint.objects.get(id=response.json()).channel == "ov"


def test_plain_post_is_not_allowed(api: APIClient, thing: Enrolled) -> None:
    assert_error(api.post("/iot/data/x", {"data": 1}, format="json", **plug_headers(thing)), 405)


# --- a batch costs a handful of queries ----------------------------------------------------------


def test_thousand_records_take_a_bounded_number_of_queries(
    api: APIClient, tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    panel = tenant.plug("panel", kind=Plug.Kind.CONTROLLER)
    things = [tenant.plug(f"t{i}") for i in range(3)]
    for t in things:
        control(panel, t)
    sources = [panel.plug.id] + [t.plug.id for t in things]
    body = [
        {"channel": f"room/{i % 50}/temp", "data": {"v": i}, "at": AT + i, "of": sources[i % 4]}
        for i in range(1000)
    ]
    # The bound holds whatever the batch size; on PostgreSQL the insert runs in a savepoint
    # (SAVEPOINT / RELEASE, or ROLLBACK TO and the upsert when keys are taken).
    with django_assert_max_num_queries(15):
        response = put(api, "/iot/data", body, plug_headers(panel))
    assert response.status_code == 200, response.content
    assert len(set(response.json())) == 1000
    assert DataPoint.objects.count() == 1000
    assert JournalEntry.objects.filter(event="data").count() == 1000
    # Again, now that every property exists and every key is taken (all overwrites).
    with django_assert_max_num_queries(15):
        again = put(api, "/iot/data", body, plug_headers(panel))
    assert again.json() == response.json()


def test_batch_partly_on_taken_keys_keeps_old_oids_and_adds_new_ones(api: APIClient, thing: Enrolled) -> None:
    first = put(
        api, "/iot/data", [{"channel": "s", "data": i, "at": AT + i} for i in range(3)], plug_headers(thing)
    )
    assert first.status_code == 200
    # Keys AT+1 and AT+2 are taken, AT+3 and AT+4 are new: the whole batch is upserted.
    second = put(
        api,
        "/iot/data",
        [{"channel": "s", "data": 10 + i, "at": AT + i} for i in range(1, 5)],
        plug_headers(thing),
    )
    assert second.status_code == 200, second.content
    assert second.json()[:2] == first.json()[1:]
    assert all(is_oid(oid) for oid in second.json()) and len(set(second.json())) == 4
    assert {p.at - AT: p.data for p in stored(channel="s")} == {0: 0, 1: 11, 2: 12, 3: 13, 4: 14}
    assert JournalEntry.objects.filter(channel="s").count() == 7


# --- hostile values (found by the input sweep) -------------------------------------------------

UNSTORABLE_BODIES = [
    b'{"data": "a\\u0000b"}',  # PostgreSQL refuses U+0000 in text and JSON
    b'{"data": {"k\\u0000": 1}}',
    b'{"data": 1, "of": "dev-\\u0000"}',
    b'{"data": "\\udcff"}',  # a lone surrogate: no UTF-8 for it
    b'{"data": "\xed\xa0\x80"}',  # the same, UTF-8-encoded
    b'{"data": 1, "channel": "\\ud800"}',
    b'{"data": 1e400}',  # Python reads it as infinity
    b'{"data": ' + b"[" * 65 + b"]" * 65 + b"}",  # deeper than the parser's limit
    b"[" * 100_000,  # would exhaust the decoder's recursion
]


@pytest.mark.parametrize("raw", UNSTORABLE_BODIES)
def test_unstorable_values_are_a_400_and_nothing_is_stored(
    api: APIClient, thing: Enrolled, raw: bytes
) -> None:
    assert_error(put_raw(api, "/iot/data/x", raw, plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()
    # The channel stays readable (a stored lone surrogate used to break every later read).
    assert api.get("/iot/data/x", **plug_headers(thing)).json() == []


def test_surrogate_pairs_and_deep_but_bounded_values_are_fine(api: APIClient, thing: Enrolled) -> None:
    nested: Any = 1
    for _ in range(60):
        nested = [nested]
    r = put_raw(api, "/iot/data/x", b'{"data": "\\ud83d\\ude00 \\u00e9"}', plug_headers(thing))
    assert r.status_code == 200, r.content
    assert put(api, "/iot/data/y", {"data": nested}, plug_headers(thing)).status_code == 200
    assert [p.data for p in stored(channel="x")] == ["😀 é"]


@pytest.mark.parametrize("ttl", [10**30, 1e308, 2**63, 17_000_000_000])
def test_ttl_beyond_the_time_line_is_a_400(api: APIClient, thing: Enrolled, ttl: Any) -> None:
    body = assert_error(put(api, "/iot/data/x", {"data": 1, "ttl": ttl}, plug_headers(thing)), 400)
    assert "ttl" in body["msg"]
    assert not DataPoint.objects.exists()


def test_nul_in_the_url_or_query_is_refused(api: APIClient, thing: Enrolled) -> None:
    assert_error(api.get("/iot/data/a%00b", **plug_headers(thing)), 404)
    assert_error(api.put("/iot/data/a%00b", '{"data": 1}', content_type="application/json"), 404)
    assert_error(api.get("/iot/data/x?of=%00", **plug_headers(thing)), 400)
    assert_error(api.get("/iot/channel?before=1%002", **plug_headers(thing)), 400)
    assert not DataPoint.objects.exists()
