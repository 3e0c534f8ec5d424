"""Property dialect writes (SPEC §6): the three write forms, Data Feed rules, receipts, who may
write what (SPEC §3, §4 rule 4), commands, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from commands.models import Command
from data.models import DataPoint, JournalEntry
from data.schema_docs import RECEIPT_ERRORS_MAX
from devices.models import Control, DeviceLogEntry, Plug, Property
from devices.services.plugs import Enrolled
from plugboard.models import ApiKey
from plugboard.services import key_create
from plugboard.timestamps import iso, now_ms
from tests.conftest import Tenant, basic, plug_headers, receipt_counts

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def post(api: APIClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.post(path, body, format="json", **headers)


def series(plug: Plug, channel: str) -> list[tuple[int, Any]]:
    return list(
        DataPoint.objects.filter(of=plug.id, channel=channel).order_by("at").values_list("at", "data")
    )


# --- the three forms -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_values_object_is_written_at_server_time(api: APIClient, thing: Enrolled) -> None:
    before = now_ms()
    r = post(api, f"/v3/data/devices/{thing.plug.id}", {"temperature": 21.5, "on": True}, plug_headers(thing))
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "rejected": 0}
    [(at, value)] = series(thing.plug, "temperature")
    assert value == 21.5 and before <= at <= now_ms()
    assert series(thing.plug, "on")[0][1] is True
    # The device's first write creates the property: type any, access protected.
    prop = Property.objects.get(plug=thing.plug, name="temperature")
    assert (prop.type, prop.access, prop.last_value) == ("any", "protected", 21.5)


@pytest.mark.django_db
def test_feed_into_one_property(api: APIClient, thing: Enrolled) -> None:
    feed = {
        "dps": [
            {"t": "2023-11-14T22:13:20Z", "v": 1},
            {"t": "2023-11-15T00:13:20+02:00", "v": 2, "prop": "humidity"},
            {"t": T0 + 5, "v": 3},
        ]
    }
    r = post(api, "/v3/data/devices/thermostat/properties/temperature", feed, plug_headers(thing))
    assert r.json() == {"accepted": 3, "rejected": 0}
    assert series(thing.plug, "temperature") == [(T0, 1), (T0 + 5, 3)]
    # A point's own prop wins over the URL's.
    assert series(thing.plug, "humidity") == [(T0, 2)]


@pytest.mark.django_db
def test_a_feed_points_ttl_sets_its_expiry(api: APIClient, thing: Enrolled) -> None:
    """`ttl` (seconds from receipt) on a point, else on the feed; a bad one is a rejection."""
    before = now_ms()
    feed = {
        "ttl": 60,
        "dps": [{"t": T0, "v": 1, "ttl": 10}, {"t": T0 + 1, "v": 2}, {"t": T0 + 2, "v": 3, "ttl": -1}],
    }
    r = post(api, "/v3/data/devices/_this_/properties/temperature", feed, plug_headers(thing))
    assert receipt_counts(r.json()) == {"accepted": 2, "rejected": 1}
    expiry = dict(DataPoint.objects.filter(of=thing.plug.id).values_list("at", "expire_at"))
    assert set(expiry) == {T0, T0 + 1}
    assert before + 10_000 <= expiry[T0] <= now_ms() + 10_000
    assert before + 60_000 <= expiry[T0 + 1] <= now_ms() + 60_000


@pytest.mark.django_db
def test_a_feed_points_expire_at_sets_its_expiry(api: APIClient, thing: Enrolled) -> None:
    """`expire_at` (a timestamp) on a point, else on the feed, wins over `ttl`; a point's own
    expiry fields replace the feed's; a bad one is a rejection. (It was silently ignored.)"""
    later = now_ms() + 3_600_000
    feed = {
        "expire_at": later,
        "ttl": 60,
        "dps": [
            {"t": T0, "v": 1},
            {"t": T0 + 1, "v": 2, "expire_at": iso(later + 1000)},
            {"t": T0 + 2, "v": 3, "ttl": 10, "expire_at": later + 2000},
            {"t": T0 + 3, "v": 4, "expire_at": "soon"},
        ],
    }
    r = post(api, "/v3/data/devices/_this_/properties/temperature", feed, plug_headers(thing))
    assert receipt_counts(r.json()) == {"accepted": 3, "rejected": 1}
    expiry = dict(DataPoint.objects.filter(of=thing.plug.id).values_list("at", "expire_at"))
    assert expiry == {T0: later, T0 + 1: later + 1000, T0 + 2: later + 2000}


@pytest.mark.django_db
def test_feed_base_time_and_offsets(api: APIClient, thing: Enrolled) -> None:
    feed = {"t": iso(T0), "dps": [{"v": 1}, {"v": 2, "tt": 1000}, {"v": 3, "t": T0 - 1}]}
    r = post(api, "/v3/data/devices/_this_/properties/level", feed, plug_headers(thing))
    assert r.json() == {"accepted": 3, "rejected": 0}
    assert series(thing.plug, "level") == [(T0 - 1, 3), (T0, 1), (T0 + 1000, 2)]


@pytest.mark.django_db
def test_tt_without_base_time_is_relative_to_server_time(api: APIClient, thing: Enrolled) -> None:
    before = now_ms()
    r = post(
        api,
        "/v3/data/devices/_this_/properties/level",
        {"dps": [{"v": 1, "tt": -60_000}]},
        plug_headers(thing),
    )
    assert r.json() == {"accepted": 1, "rejected": 0}
    [(at, _)] = series(thing.plug, "level")
    assert before - 60_000 <= at <= now_ms() - 60_000


@pytest.mark.django_db
def test_feed_with_prop_per_point_or_per_feed(api: APIClient, thing: Enrolled) -> None:
    feed = {
        "prop": "humidity",
        "dps": [{"t": T0, "v": 40}, {"t": T0, "v": 20.5, "prop": "temperature"}, {"t": T0 + 1, "v": 41}],
    }
    r = post(api, "/v3/data/devices/_this_/properties", feed, plug_headers(thing))
    assert r.json() == {"accepted": 3, "rejected": 0}
    assert series(thing.plug, "humidity") == [(T0, 40), (T0 + 1, 41)]
    assert series(thing.plug, "temperature") == [(T0, 20.5)]


@pytest.mark.django_db
def test_feed_without_any_prop_rejects_those_points(api: APIClient, thing: Enrolled) -> None:
    feed = {"dps": [{"t": T0, "v": 1}, {"t": T0, "v": 2, "prop": "a"}]}
    r = post(api, "/v3/data/devices/_this_/properties", feed, plug_headers(thing))
    assert receipt_counts(r.json()) == {"accepted": 1, "rejected": 1}


@pytest.mark.django_db
def test_data_feed_also_accepted_on_the_device_path(api: APIClient, thing: Enrolled) -> None:
    # What a client posts to data/devices/{ref} when it sends a feed (e.g. conniosdk).
    feed = {"dps": [{"t": T0, "v": 7, "prop": "speed"}]}
    r = post(api, "/v3/data/devices/_this_", feed, plug_headers(thing))
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert series(thing.plug, "speed") == [(T0, 7)]


@pytest.mark.django_db
def test_property_names_match_existing_ones_case_insensitively(api: APIClient, thing: Enrolled) -> None:
    Property.objects.create(plug=thing.plug, name="Temperature")
    r = post(api, "/v3/data/devices/THERMOSTAT", {"TEMPERATURE": 1, "NewOne": 2}, plug_headers(thing))
    assert r.json() == {"accepted": 2, "rejected": 0}
    assert series(thing.plug, "Temperature")[0][1] == 1
    assert not DataPoint.objects.filter(channel="TEMPERATURE").exists()
    # A brand-new property keeps the name as written.
    assert Property.objects.filter(plug=thing.plug, name="NewOne").exists()
    r = post(
        api, "/v3/data/devices/_this_/properties/newone", {"dps": [{"t": T0, "v": 3}]}, plug_headers(thing)
    )
    assert r.json()["accepted"] == 1
    assert (T0, 3) in series(thing.plug, "NewOne")


@pytest.mark.django_db
def test_property_named_by_id(api: APIClient, thing: Enrolled) -> None:
    prop = Property.objects.create(plug=thing.plug, name="pressure")
    r = post(
        api,
        f"/v3/data/devices/_this_/properties/{prop.id}",
        {"dps": [{"t": T0, "v": 1}]},
        plug_headers(thing),
    )
    assert r.json()["accepted"] == 1
    assert series(thing.plug, "pressure") == [(T0, 1)]
    r = post(
        api,
        "/v3/data/devices/_this_/properties/_prp_000000000000000000000000",
        {"dps": []},
        plug_headers(thing),
    )
    assert r.status_code == 404


@pytest.mark.django_db
def test_account_prefix(api: APIClient, tenant: Tenant, thing: Enrolled, other_tenant: Tenant) -> None:
    for acc in ("_this_", tenant.account.id):
        r = post(api, f"/v3/accounts/{acc}/data/devices/_this_", {"x": 1}, plug_headers(thing))
        assert r.json() == {"accepted": 1, "rejected": 0}
    r = post(
        api, f"/v3/accounts/{other_tenant.account.id}/data/devices/_this_", {"x": 1}, plug_headers(thing)
    )
    assert r.status_code == 404
    assert r.json()[0]["code"] == 404


@pytest.mark.django_db
def test_apps_path_is_for_controllers(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    app = tenant.plug("dashboard", kind=Plug.Kind.CONTROLLER)
    r = post(
        api, "/v3/data/apps/_this_/properties/mode", {"dps": [{"t": T0, "v": "auto"}]}, plug_headers(app)
    )
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert series(app.plug, "mode") == [(T0, "auto")]
    # A thing under apps/ and a controller under devices/ do not exist there.
    assert post(api, "/v3/data/apps/thermostat", {"x": 1}, tenant.master_headers()).status_code == 404
    assert post(api, "/v3/data/devices/dashboard", {"x": 1}, tenant.master_headers()).status_code == 404
    assert api.get("/v3/data/apps/dashboard", **plug_headers(app)).json() == {"mode": "auto"}


# --- same millisecond ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_millisecond_overwrites_series_and_journals_both(api: APIClient, thing: Enrolled) -> None:
    path = "/v3/data/devices/_this_/properties/temperature"
    post(api, path, {"dps": [{"t": T0, "v": 1}]}, plug_headers(thing))
    oid = DataPoint.objects.get(of=thing.plug.id, channel="temperature").id
    r = post(api, path, {"dps": [{"t": iso(T0), "v": 2}]}, plug_headers(thing))
    assert r.json() == {"accepted": 1, "rejected": 0}
    point = DataPoint.objects.get(of=thing.plug.id, channel="temperature")
    assert (point.id, point.at, point.data) == (oid, T0, 2)
    journal = JournalEntry.objects.filter(of=thing.plug.id, channel="temperature").order_by("id")
    assert [(j.at, j.data, j.point_id) for j in journal] == [(T0, 1, oid), (T0, 2, oid)]


# --- rejections counted and logged ----------------------------------------------------------------


@pytest.mark.django_db
def test_bad_points_are_counted_and_logged_in_debug(api: APIClient, thing: Enrolled) -> None:
    Plug.objects.filter(pk=thing.plug.pk).update(status=Plug.Status.DEBUG)
    feed = {
        "dps": [
            {"t": T0},  # no v
            {"t": "2023-11-14T22:13:20", "v": 1},  # no zone
            {"t": "yesterday", "v": 1},
            {"tt": "soon", "v": 1},
            7,  # not a point
            {"t": T0, "v": 1},
        ]
    }
    r = post(api, "/v3/data/devices/_this_/properties/temperature", feed, plug_headers(thing))
    assert r.status_code == 200
    assert receipt_counts(r.json()) == {"accepted": 1, "rejected": 5}
    codes = sorted(DeviceLogEntry.objects.filter(plug=thing.plug).values_list("code", flat=True))
    assert codes == ["BadTimestamp", "BadTimestamp", "BadTimestamp", "MissingData", "MissingData"]
    assert DeviceLogEntry.objects.filter(plug=thing.plug, message__icontains="time zone").exists()


@pytest.mark.django_db
def test_bad_feed_base_time_rejects_the_points_relying_on_it(api: APIClient, thing: Enrolled) -> None:
    feed = {"t": "2023-11-14T22:13:20", "dps": [{"v": 1}, {"v": 2, "tt": 5}, {"v": 3, "t": T0}]}
    r = post(api, "/v3/data/devices/_this_/properties/temperature", feed, plug_headers(thing))
    assert receipt_counts(r.json()) == {"accepted": 1, "rejected": 2}


@pytest.mark.django_db
def test_rejections_are_not_logged_outside_debug_but_the_receipt_says_why(
    api: APIClient, thing: Enrolled
) -> None:
    r = post(api, "/v3/data/devices/_this_/properties/t", {"dps": [{"t": T0}]}, plug_headers(thing))
    assert r.json() == {
        "accepted": 0,
        "rejected": 1,
        "errors": [{"index": 0, "prop": "t", "code": "MissingData", "message": "data is required"}],
    }
    assert not DeviceLogEntry.objects.exists()


@pytest.mark.django_db
def test_a_receipt_names_the_first_refused_points_and_counts_them_all(
    api: APIClient, thing: Enrolled
) -> None:
    Property.objects.create(plug=thing.plug, name="level", type="number", min=0, max=10)
    feed = {"prop": "level", "dps": [{"t": T0 + i, "v": 5 if i % 3 == 0 else 50} for i in range(30)]}
    r = post(api, "/v3/data/devices/_this_/properties", feed, plug_headers(thing))
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (10, 20)
    assert len(body["errors"]) == RECEIPT_ERRORS_MAX  # capped; `rejected` counts them all
    assert [e["index"] for e in body["errors"]] == [i for i in range(30) if i % 3][:RECEIPT_ERRORS_MAX]
    assert {(e["prop"], e["code"]) for e in body["errors"]} == {("level", "BadValue")}
    clean = post(
        api,
        "/v3/data/devices/_this_/properties/level",
        {"dps": [{"t": T0 + 99, "v": 1}]},
        plug_headers(thing),
    )
    assert clean.json() == {"accepted": 1, "rejected": 0}  # no `errors` when nothing was refused


@pytest.mark.django_db
def test_type_and_boundaries_of_a_property(api: APIClient, thing: Enrolled) -> None:
    Property.objects.create(plug=thing.plug, name="level", type="number", min=0, max=10)
    feed = {"dps": [{"t": T0, "v": 5}, {"t": T0 + 1, "v": 11}, {"t": T0 + 2, "v": "high"}]}
    r = post(api, "/v3/data/devices/_this_/properties/level", feed, plug_headers(thing))
    assert receipt_counts(r.json()) == {"accepted": 1, "rejected": 2}


# --- who may write what ------------------------------------------------------------------------


@pytest.fixture
def setpoint(thing: Enrolled) -> Property:
    return Property.objects.create(plug=thing.plug, name="setPoint", access=Property.Access.PUBLIC)


def key_headers(key: ApiKey, secret: str) -> dict[str, str]:
    return basic(key.id, secret)


@pytest.mark.django_db
def test_device_key_writes_its_own_device(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    r = post(api, f"/v3/data/devices/{thing.plug.id}", {"temperature": 1}, key_headers(thing.key, thing.auth))
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert not Command.objects.exists()  # the device's own write is never a command


@pytest.mark.django_db
def test_device_key_may_not_write_another_device(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    other = tenant.plug("other")
    r = post(api, "/v3/data/devices/other", {"temperature": 1}, key_headers(thing.key, thing.auth))
    assert r.status_code == 403
    assert r.json()[0]["code"] == 403
    assert not DataPoint.objects.filter(of=other.plug.id).exists()


@pytest.mark.django_db
def test_gateway_key_writes_its_listed_devices(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    gateway = tenant.plug("gateway")
    unlisted = tenant.plug("unlisted")
    key, secret = key_create(
        account=tenant.account, kind="device", plug=gateway.plug, context_ids=[thing.plug.id]
    )
    r = post(api, "/v3/data/devices/thermostat", {"temperature": 3}, key_headers(key, secret))
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert not Command.objects.exists()  # a gateway speaks as its devices
    assert post(api, "/v3/data/devices/unlisted", {"t": 1}, key_headers(key, secret)).status_code == 403
    assert not DataPoint.objects.filter(of=unlisted.plug.id).exists()


@pytest.mark.django_db
def test_user_key_writes_public_property_as_a_command(
    api: APIClient, tenant: Tenant, thing: Enrolled, setpoint: Property
) -> None:
    key_id, secret = tenant.user_key()
    r = post(
        api,
        "/v3/data/devices/thermostat/properties/setpoint",
        {"dps": [{"t": T0, "v": 22}]},
        basic(key_id, secret),
    )
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert series(thing.plug, "setPoint") == [(T0, 22)]
    command = Command.objects.get(plug=thing.plug)
    assert (command.property, command.value, command.state) == ("setPoint", 22, Command.State.PENDING)
    assert command.credential == key_id


@pytest.mark.django_db
def test_non_device_writers_only_existing_public_properties(
    api: APIClient, tenant: Tenant, thing: Enrolled, setpoint: Property
) -> None:
    Property.objects.create(plug=thing.plug, name="temperature")  # protected
    key_id, secret = tenant.user_key()
    body = {"temperature": 1, "brandNew": 2, "setpoint": 3}
    r = post(api, "/v3/data/devices/thermostat", body, basic(key_id, secret))
    assert receipt_counts(r.json()) == {"accepted": 1, "rejected": 2}
    assert not DataPoint.objects.filter(channel__in=["temperature", "brandNew"]).exists()
    assert not Property.objects.filter(name="brandNew").exists()
    assert Command.objects.filter(property="setPoint").count() == 1


@pytest.mark.django_db
def test_master_credentials_write_public_property_as_a_command(
    api: APIClient, tenant: Tenant, thing: Enrolled, setpoint: Property
) -> None:
    r = post(api, "/v3/data/devices/thermostat", {"setPoint": 19}, tenant.master_headers())
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert Command.objects.get(plug=thing.plug).state == Command.State.PENDING


@pytest.mark.django_db
def test_api_client_key_within_its_context_and_scopes(
    api: APIClient, tenant: Tenant, thing: Enrolled, setpoint: Property
) -> None:
    other = tenant.plug("other")
    Property.objects.create(plug=other.plug, name="setPoint", access=Property.Access.PUBLIC)
    key, secret = key_create(
        account=tenant.account,
        kind="apiclient",
        context_type="devices",
        context_ids=[thing.plug.id],
        scope=["device:write-data"],
    )
    r = post(api, "/v3/data/devices/thermostat", {"setPoint": 20}, key_headers(key, secret))
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert Command.objects.filter(plug=thing.plug, state="pending").count() == 1
    # Outside its context.
    assert post(api, "/v3/data/devices/other", {"setPoint": 20}, key_headers(key, secret)).status_code == 403
    # Without the write scope.
    reader, reader_secret = key_create(
        account=tenant.account, kind="apiclient", context_type="account", scope=["device:read-data"]
    )
    r = post(api, "/v3/data/devices/thermostat", {"setPoint": 21}, key_headers(reader, reader_secret))
    assert r.status_code == 403
    assert series(thing.plug, "setPoint")[-1][1] == 20


@pytest.mark.django_db
def test_app_api_client_key_writes_the_things_its_app_controls(
    api: APIClient, tenant: Tenant, thing: Enrolled, setpoint: Property
) -> None:
    app = tenant.plug("dashboard", kind=Plug.Kind.CONTROLLER)
    Control.objects.create(controller=app.plug, thing=thing.plug, rights="rw")
    key, secret = key_create(
        account=tenant.account, kind="apiclient", plug=app.plug, scope=["device:write-data"]
    )
    r = post(api, "/v3/data/devices/thermostat", {"setPoint": 18}, key_headers(key, secret))
    assert r.json() == {"accepted": 1, "rejected": 0}
    assert Command.objects.get(plug=thing.plug).value == 18
    # The app's own property does not exist yet, and an API client creates none.
    r = post(
        api,
        "/v3/data/apps/_this_/properties/mode",
        {"dps": [{"t": T0, "v": "eco"}]},
        key_headers(key, secret),
    )
    assert receipt_counts(r.json()) == {"accepted": 0, "rejected": 1}


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/v3/data/devices/_this_", "/v3/data/devices/_this_/properties", "/v3/data/devices/_this_/properties/p"],
)
@pytest.mark.parametrize(
    "raw",
    ["{not json", "[1, 2]", '"text"', "42", "", '{"dps": 5}', '{"dps": {"t": 1}}', '{"dps": null}', "NaN"],
)
def test_bodies_that_are_not_feeds(api: APIClient, thing: Enrolled, path: str, raw: str) -> None:
    r = api.post(path, raw, content_type="application/json", **plug_headers(thing))
    assert r.status_code == 400, r.content
    [error] = r.json()
    assert set(error) == {"code", "cause", "message"} and error["code"] == 400
    assert not DataPoint.objects.exists()


@pytest.mark.django_db
def test_a_body_without_content_type_is_json(api: APIClient, thing: Enrolled) -> None:
    r = api.generic("POST", "/v3/data/devices/_this_", '{"a": 1}', content_type="", **plug_headers(thing))
    assert r.json() == {"accepted": 1, "rejected": 0}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/csv"],
)
def test_a_body_of_another_type_is_a_415_in_the_dialects_shape(
    api: APIClient, thing: Enrolled, content_type: str
) -> None:
    # What an HTML form on another site can send is never a write (issue 24: forged requests).
    r = api.post("/v3/data/devices/_this_", '{"a": 1}', content_type=content_type, **plug_headers(thing))
    assert r.status_code == 415
    [error] = r.json()
    assert error["code"] == 415 and error["cause"] == "UnsupportedMediaType"
    assert not DataPoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_media_types_are_parsed(api: APIClient, thing: Enrolled, content_type: str) -> None:
    r = api.post("/v3/data/devices/_this_", '{"a": 1}', content_type=content_type, **plug_headers(thing))
    assert r.json() == {"accepted": 1, "rejected": 0}


@pytest.mark.django_db
def test_huge_feed_is_413(api: APIClient, thing: Enrolled, settings: Any) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "MAX_BATCH": 10}
    feed = {"dps": [{"t": T0 + i, "v": i} for i in range(11)]}
    r = post(api, "/v3/data/devices/_this_/properties/p", feed, plug_headers(thing))
    assert r.status_code == 413
    assert r.json()[0]["code"] == 413
    r = post(api, "/v3/data/devices/_this_", {f"p{i}": i for i in range(11)}, plug_headers(thing))
    assert r.status_code == 413
    assert not DataPoint.objects.exists()
    ok = post(api, "/v3/data/devices/_this_/properties/p", {"dps": feed["dps"][:10]}, plug_headers(thing))
    assert ok.json() == {"accepted": 10, "rejected": 0}


@pytest.mark.django_db
def test_unknown_device_is_404(api: APIClient, tenant: Tenant) -> None:
    for ref in ("nosuch", "dev-000000000000000000000000"):
        r = post(api, f"/v3/data/devices/{ref}", {"x": 1}, tenant.master_headers())
        assert r.status_code == 404
        assert r.json()[0]["cause"] == "NotFound"


@pytest.mark.django_db
def test_this_without_a_device_is_404(api: APIClient, tenant: Tenant) -> None:
    assert post(api, "/v3/data/devices/_this_", {"x": 1}, tenant.master_headers()).status_code == 404


@pytest.mark.django_db
def test_another_accounts_device_is_404(api: APIClient, thing: Enrolled, other_tenant: Tenant) -> None:
    intruder = other_tenant.plug("intruder")
    for ref in (thing.plug.id, "thermostat"):
        r = post(api, f"/v3/data/devices/{ref}", {"x": 1}, other_tenant.master_headers())
        assert r.status_code == 404
        r = post(api, f"/v3/data/devices/{ref}/properties/x", {"dps": [{"v": 1}]}, plug_headers(intruder))
        assert r.status_code == 404
    assert not DataPoint.objects.exists()


@pytest.mark.django_db
def test_disabled_device_is_403_and_nothing_stored(api: APIClient, tenant: Tenant, thing: Enrolled) -> None:
    Plug.objects.filter(pk=thing.plug.pk).update(status=Plug.Status.DISABLED)
    r = post(api, "/v3/data/devices/thermostat", {"x": 1}, tenant.master_headers())
    assert r.status_code == 403
    assert r.json()[0]["code"] == 403
    # Its own credentials are refused as well.
    assert post(api, "/v3/data/devices/_this_", {"x": 1}, plug_headers(thing)).status_code == 403
    assert not DataPoint.objects.exists()
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
def test_missing_and_wrong_credentials_are_401(api: APIClient, thing: Enrolled) -> None:
    r = api.post("/v3/data/devices/thermostat", {"x": 1}, format="json")
    assert r.status_code == 401
    assert r.json()[0]["code"] == 401
    r = post(
        api,
        "/v3/data/devices/thermostat",
        {"x": 1},
        {"HTTP_X_PLUG_ID": thing.plug.id, "HTTP_X_PLUG_AUTH": "0" * 32},
    )
    assert r.status_code == 401
    assert not DataPoint.objects.exists()


@pytest.mark.django_db
def test_get_is_not_allowed_on_the_feed_path(api: APIClient, thing: Enrolled) -> None:
    r = api.get("/v3/data/devices/_this_/properties", **plug_headers(thing))
    assert r.status_code == 405
    assert r.json()[0]["code"] == 405


# --- batching ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_thousand_point_feed_is_a_handful_of_queries(
    api: APIClient, thing: Enrolled, django_assert_max_num_queries: Any
) -> None:
    feed = {"dps": [{"t": T0 + i, "v": i} for i in range(1000)]}
    with django_assert_max_num_queries(12):
        r = post(api, "/v3/data/devices/_this_/properties/temperature", feed, plug_headers(thing))
    assert r.json() == {"accepted": 1000, "rejected": 0}
    feed = {"dps": [{"t": T0 + 1000 + i, "v": i, "prop": ("a", "b")[i % 2]} for i in range(1000)]}
    with django_assert_max_num_queries(12):
        r = post(api, "/v3/data/devices/_this_/properties", feed, basic(thing.key.id, thing.auth))
    assert r.json() == {"accepted": 1000, "rejected": 0}
    assert DataPoint.objects.filter(of=thing.plug.id).count() == 2000
    assert JournalEntry.objects.filter(of=thing.plug.id).count() == 2000


@pytest.mark.django_db
def test_first_feed_of_a_new_property_sets_its_latest_value_to_the_newest_point(
    api: APIClient, thing: Enrolled
) -> None:
    # The points arrive oldest first; all of them are of a property this very write creates.
    feed = {"dps": [{"t": T0 + i, "v": i} for i in range(5)]}
    r = post(api, "/v3/data/devices/thermostat/properties/pressure", feed, plug_headers(thing))
    assert r.json() == {"accepted": 5, "rejected": 0}
    prop = Property.objects.get(plug=thing.plug, name="pressure")
    assert (prop.last_value, prop.last_at) == (4, T0 + 4)


@pytest.mark.django_db
def test_a_property_another_writer_creates_first_still_gets_the_newest_value(
    api: APIClient, thing: Enrolled, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_many = Property.objects.bulk_create

    def another_writer_first(objs: Any, **kw: Any) -> Any:
        # Between this write's look-up and its insert, a concurrent write creates the property.
        Property.objects.create(plug=thing.plug, name="pressure")
        return create_many(objs, **kw)

    monkeypatch.setattr(Property.objects, "bulk_create", another_writer_first)
    feed = {"dps": [{"t": T0 + i, "v": i} for i in range(5)]}
    r = post(api, "/v3/data/devices/thermostat/properties/pressure", feed, plug_headers(thing))
    assert r.json() == {"accepted": 5, "rejected": 0}
    prop = Property.objects.get(plug=thing.plug, name="pressure")
    assert (prop.last_value, prop.last_at) == (4, T0 + 4)
