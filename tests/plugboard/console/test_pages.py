"""The console's pages (SPEC §9) through Django's test client: sign-in, isolation between
accounts, values shown as text, writes through the same services as the dialects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from commands.models import Command
from data.models import JournalEntry
from data.services import PointIn, points_write
from devices.models import DeviceLogEntry, Plug, Property
from plugboard.models import ApiKey
from plugboard.principals import Principal
from plugboard.services import key_create
from tests.conftest import Tenant, plug_headers

HOSTILE = '<script>alert(1)</script>"onerror=alert(2)'


def signed_in(tenant: Tenant, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 302
    return client


def device(tenant: Tenant, plug: Plug) -> Principal:
    return Principal(account_id=tenant.account.id, kind="plug", credential=plug.id, plug_id=plug.id)


def test_pages_need_a_signed_in_account(tenant: Tenant) -> None:
    client = Client()
    response = client.get("/console/plugs/?q=a")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/sign-in/?next=")
    assert client.post("/console/sign-in/", {"email": tenant.email, "password": "wrong"}).status_code == 401
    response = client.post(
        "/console/sign-in/", {"email": tenant.email, "password": tenant.password, "next": "/console/keys/"}
    )
    assert response.status_code == 302 and response["Location"] == "/console/keys/"
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert client.get("/console/plugs/").status_code == 200
    client.post("/console/sign-out/")
    assert client.get("/console/plugs/").status_code == 302


def test_sign_in_never_redirects_off_site(tenant: Tenant) -> None:
    response = Client().post(
        "/console/sign-in/",
        {"email": tenant.email, "password": tenant.password, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/console/"


@override_settings(
    PLUGBOARD={**__import__("django.conf").conf.settings.PLUGBOARD, "AUTH_FAILURES_PER_MINUTE": 3}
)
def test_failed_sign_ins_are_rate_limited_like_the_api(tenant: Tenant) -> None:
    client = Client()
    for _ in range(3):
        assert client.post("/console/sign-in/", {"email": tenant.email, "password": "x"}).status_code == 401
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 429


def test_every_form_needs_its_csrf_token(tenant: Tenant) -> None:
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password}).status_code
        == 403
    )
    page = client.get("/console/sign-in/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/console/sign-in/",
        {"email": tenant.email, "password": tenant.password, "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302
    assert client.post("/console/plugs/", {"new-name": "lamp", "new-kind": "thing"}).status_code == 403
    assert not Plug.objects.filter(name="lamp").exists()


def test_plug_list_searches_and_pages_without_counting(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    for i in range(55):
        tenant.plug(f"node-{i:02d}", hwid=f"HW-{i}")
    client = signed_in(tenant)
    with django_assert_max_num_queries(4):
        page = client.get("/console/plugs/").content.decode()
    assert "node-00" in page and "node-49" in page and "node-50" not in page
    next_url = re.search(r'href="(\?[^"]*after=[^"]+)" rel="next"', page)
    assert next_url
    second = client.get("/console/plugs/" + next_url.group(1).replace("&amp;", "&")).content.decode()
    assert "node-50" in second and "node-54" in second and "node-49" not in second
    found = client.get("/console/plugs/?q=HW-7").content.decode()
    assert "node-07" in found and "node-08" not in found


def test_a_created_plug_shows_its_secret_once(tenant: Tenant) -> None:
    client = signed_in(tenant)
    response = client.post("/console/plugs/", {"new-name": "lamp", "new-kind": "controller", "new-hwid": ""})
    assert response.status_code == 200
    secret = re.search(r"data-secret>([0-9a-f]{32})<", response.content.decode())
    assert secret
    plug = Plug.objects.get(account=tenant.account, name="lamp")
    assert plug.kind == "controller"
    assert secret.group(1) not in client.get("/console/plugs/").content.decode()
    assert secret.group(1) not in client.get(f"/console/plugs/{plug.id}/").content.decode()
    taken = client.post("/console/plugs/", {"new-name": "LAMP", "new-kind": "thing"})
    assert taken.status_code == 400 and "already exists" in taken.content.decode()


def test_another_accounts_things_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = other_tenant.plug("secret-plug").plug
    their_key, _ = key_create(account=other_tenant.account, kind="user")
    points_write(
        principal=device(other_tenant, theirs),
        points=[PointIn(channel="private/room", data=42, of=theirs.id)],
        source="http",
    )
    client = signed_in(tenant)
    for path in (f"/console/plugs/{theirs.id}/",):
        assert client.get(path).status_code == 404
    for path in (
        f"/console/plugs/{theirs.id}/status/",
        f"/console/plugs/{theirs.id}/key/",
        f"/console/plugs/{theirs.id}/command/",
        f"/console/keys/{their_key.id}/revoke/",
    ):
        assert client.post(path, {"status": "disabled", "property": "x", "value": "1"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "ok" and ApiKey.objects.filter(id=their_key.id).exists()
    channels = client.get("/console/channels/?mask=%23").content.decode()
    assert "private/room" not in channels
    assert "secret-plug" not in client.get("/console/plugs/?q=secret").content.decode()
    made = client.post(
        "/console/keys/",
        {"kind": "apiclient", "context": "devices", "plugs": theirs.id, "scope": ["device:read"]},
    )
    assert (
        made.status_code == 400
        and not ApiKey.objects.filter(account=tenant.account, kind="apiclient").exists()
    )


def test_values_are_shown_as_text(tenant: Tenant) -> None:
    plug = tenant.plug("thermostat", hwid=HOSTILE).plug
    points_write(
        principal=device(tenant, plug),
        points=[
            PointIn(channel=HOSTILE, data=HOSTILE, of=plug.id),
            PointIn(channel="t", data={"x": HOSTILE}, of=plug.id),
        ],
        source="http",
    )
    client = signed_in(tenant)
    pages = [
        "/console/plugs/",
        f"/console/plugs/{plug.id}/",
        f"/console/plugs/{plug.id}/?chart=t",
        "/console/channels/?mask=%23",
    ]
    for path in pages:
        html = client.get(path).content.decode()
        assert "<script>alert" not in html, path
        # A quote that could end an attribute never comes through raw (inside the chart's JSON
        # data block it is a JSON escape, \", which no HTML parser reads as markup).
        assert not re.search(r'(?<!\\)"onerror=', html), path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_a_command_goes_through_the_write_service(tenant: Tenant) -> None:
    plug = tenant.plug("thermostat").plug
    points_write(
        principal=device(tenant, plug),
        points=[PointIn(channel="setpoint", data=20, of=plug.id)],
        source="http",
    )
    prop = Property.objects.get(plug=plug, name="setpoint")
    prop.access = Property.Access.PUBLIC
    prop.save()
    client = signed_in(tenant)
    bad = client.post(f"/console/plugs/{plug.id}/command/", {"property": prop.id, "value": "{not json"})
    assert bad.status_code == 400 and "not JSON" in bad.content.decode()
    assert not Command.objects.exists()
    sent = client.post(f"/console/plugs/{plug.id}/command/", {"property": prop.id, "value": "21.5"})
    assert sent.status_code == 302
    command = Command.objects.get(plug=plug)
    assert (command.property, command.value, command.state) == ("setpoint", 21.5, "pending")
    entry = JournalEntry.objects.filter(of=plug.id, channel="setpoint").order_by("-id").first()
    assert entry is not None and entry.source == "console" and entry.credential == tenant.email
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    assert f'data-command="{command.id}"' in page and "pending" in page


def test_the_command_form_offers_only_the_properties_that_take_a_command(tenant: Tenant) -> None:
    plug = tenant.plug("thermostat").plug
    points = [PointIn(channel="temp", data=20, of=plug.id), PointIn(channel="setpoint", data=18, of=plug.id)]
    points_write(principal=device(tenant, plug), points=points, source="http")
    Property.objects.filter(plug=plug, name="setpoint").update(access=Property.Access.PUBLIC)
    prop = Property.objects.get(plug=plug, name="temp")  # protected: only its device writes it
    client = signed_in(tenant)
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    form = page.split(f'action="/console/plugs/{plug.id}/command/"', 1)[1].split("</form>", 1)[0]
    assert ">setpoint</option>" in form and ">temp</option>" not in form
    assert "1 protected or private one of this device is not offered" in page
    # Posted anyway (an old page, a hand-made request): refused by the form, nothing written.
    response = client.post(f"/console/plugs/{plug.id}/command/", {"property": prop.id, "value": "1"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Command.objects.exists()
    Property.objects.filter(plug=plug).update(access=Property.Access.PROTECTED)
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    assert 'id="no-command"' in page and "protected until the account makes one public" in page


def test_debug_disable_and_key_regeneration(tenant: Tenant, api: Any) -> None:
    enrolled = tenant.plug("thermostat")
    plug = enrolled.plug
    client = signed_in(tenant)
    assert client.post(f"/console/plugs/{plug.id}/status/", {"status": "debug"}).status_code == 302
    plug.refresh_from_db()
    assert plug.status == "debug"
    points_write(
        principal=device(tenant, plug), points=[PointIn(channel="t", data=1, of=plug.id)], source="http"
    )
    Property.objects.filter(plug=plug, name="t").update(type="number")
    points_write(
        principal=device(tenant, plug), points=[PointIn(channel="t", data="hot", of=plug.id)], source="http"
    )
    assert DeviceLogEntry.objects.filter(plug=plug).exists()
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    assert "Debug off" in page and DeviceLogEntry.objects.get(plug=plug).code in page
    assert client.post(f"/console/plugs/{plug.id}/status/", {"status": "nonsense"}).status_code == 400
    response = client.post(f"/console/plugs/{plug.id}/key/")
    secret = re.search(r"data-secret>([0-9a-f]{32})<", response.content.decode())
    assert secret and secret.group(1) != enrolled.auth
    assert api.get("/iot/data/t", **plug_headers(enrolled)).status_code == 401
    assert api.get("/iot/data/t", HTTP_X_PLUG_ID=plug.id, HTTP_X_PLUG_AUTH=secret.group(1)).status_code == 200
    assert client.post(f"/console/plugs/{plug.id}/status/", {"status": "disabled"}).status_code == 302
    plug.refresh_from_db()
    assert plug.status == "disabled"


def test_the_plug_page_charts_a_window_downsampled(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    from plugboard.timestamps import now_ms

    plug = tenant.plug("thermostat").plug
    now = now_ms()
    points = [PointIn(channel="t", data=float(i % 17), at=now - i * 1000, of=plug.id) for i in range(1500)]
    points_write(principal=device(tenant, plug), points=points, source="http")
    client = signed_in(tenant)
    with django_assert_max_num_queries(14):
        html = client.get(f"/console/plugs/{plug.id}/?chart=t&window=hour").content.decode()
    series = re.search(r'<script id="series" type="application/json">(.*?)</script>', html, re.S)
    assert series
    import json

    data = json.loads(series.group(1))
    assert data["property"] == "t" and data["bucket"] is not None
    assert 0 < len(data["points"]) <= 600


def test_a_window_past_the_averaging_bound_draws_true_averages_of_whole_minutes(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past AVERAGED_POINTS the chart's buckets are whole minutes, which the rollups average
    (a spike between samples still moves its bucket): each value is its minute's true mean."""
    import json

    from data.rollups import rollups_refresh
    from plugboard.timestamps import now_ms

    monkeypatch.setattr("plugboard.console.views.AVERAGED_POINTS", 1000)
    plug = tenant.plug("thermostat").plug
    now = now_ms()
    values = {now - i * 1000: float(i % 17) + 0.5 for i in range(1500)}
    values[now - 700_500] = 10_000.0  # one spike
    points = [PointIn(channel="t", data=v, at=t, of=plug.id) for t, v in values.items()]
    points_write(principal=device(tenant, plug), points=points, source="http")
    rollups_refresh()
    html = signed_in(tenant).get(f"/console/plugs/{plug.id}/?chart=t&window=hour").content.decode()
    found = re.search(r'<script id="series" type="application/json">(.*?)</script>', html, re.S)
    assert found
    data = json.loads(found.group(1))
    assert data["summary"] == "avg" and data["bucket"] == 60_000
    minutes: dict[int, list[float]] = {}
    for t, v in values.items():
        if data["start"] <= t <= data["end"]:
            minutes.setdefault(t // 60_000 * 60_000, []).append(v)
    expected = [[m, sum(vs) / len(vs)] for m, vs in sorted(minutes.items())]
    assert len(data["points"]) == len(expected)
    for (t, v), (want_t, want_v) in zip(data["points"], expected, strict=True):
        assert t == want_t and abs(v - want_v) < 1e-9
    assert max(v for _, v in data["points"]) > 100  # the spike's minute


def test_keys_create_once_and_revoke(tenant: Tenant, api: Any) -> None:
    client = signed_in(tenant)
    response = client.post(
        "/console/keys/", {"kind": "apiclient", "context": "account", "scope": ["device:read"], "name": "ops"}
    )
    assert response.status_code == 200
    secret = re.search(r"data-secret>([0-9a-f]{32})<", response.content.decode())
    key = ApiKey.objects.get(account=tenant.account, kind="apiclient")
    assert secret and key.scope == ["device:read"]
    assert secret.group(1) not in client.get("/console/keys/").content.decode()
    assert client.post(f"/console/keys/{key.id}/revoke/").status_code == 302
    assert not ApiKey.objects.filter(id=key.id).exists()
    assert client.post("/console/keys/", {"kind": "apiclient", "context": "account"}).status_code == 400


@pytest.mark.parametrize("mask", ["a/+", "a/#"])
def test_channel_browser_masks_and_pages(tenant: Tenant, mask: str) -> None:
    plug = tenant.plug("thermostat").plug
    points = [PointIn(channel=f"a/{i}", data=i, at=1_000_000 + i, of=plug.id) for i in range(60)]
    points.append(PointIn(channel="b/x", data="other", of=plug.id))
    points_write(principal=device(tenant, plug), points=points, source="http")
    client = signed_in(tenant)
    html = client.get("/console/channels/", {"mask": mask}).content.decode()
    assert "a/59" in html and "b/x" not in html.split('id="records"')[1].split("</table>")[0]
    assert "page=2" in html
    second = client.get("/console/channels/", {"mask": mask, "page": 2}).content.decode()
    assert ">a/9<" in second
    assert client.get("/console/channels/", {"mask": "a/#/b"}).status_code == 400


def _staff(username: str = "operator", **fields: Any) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user(username, password="staff-pw-1", **{"is_staff": True, **fields})


def test_a_staff_user_opens_any_account(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = tenant.plug("mine-plug").plug
    theirs = other_tenant.plug("their-plug").plug
    _staff()
    client = Client()
    response = client.post("/console/staff/sign-in/", {"username": "operator", "password": "staff-pw-1"})
    assert response.status_code == 302 and response["Location"] == "/console/accounts/"
    # No account open yet: every page leads to the picker, which lists every account.
    assert client.get("/console/plugs/")["Location"].startswith("/console/accounts/?next=")
    picker = client.get("/console/accounts/").content.decode()
    assert tenant.email in picker and other_tenant.email in picker
    assert other_tenant.email in client.get("/console/accounts/?q=intruder").content.decode()
    assert tenant.email not in client.get("/console/accounts/?q=intruder").content.decode()
    response = client.post(
        "/console/accounts/", {"account": other_tenant.account.id, "next": "/console/plugs/"}
    )
    assert response.status_code == 302 and response["Location"] == "/console/plugs/"
    page = client.get("/console/plugs/").content.decode()
    assert "their-plug" in page and "mine-plug" not in page
    assert client.get(f"/console/plugs/{theirs.id}/").status_code == 200
    # ?account= on any page switches, then drops itself from the address.
    response = client.get(f"/console/plugs/{mine.id}/?account={tenant.account.id}&window=day")
    assert response.status_code == 302 and response["Location"] == f"/console/plugs/{mine.id}/?window=day"
    assert client.get(f"/console/plugs/{mine.id}/").status_code == 200
    assert client.get(f"/console/plugs/{theirs.id}/").status_code == 404
    assert client.get("/console/plugs/?account=com-000000000000000000000000").status_code == 404
    # The staff user acts as the open account (full rights).
    client.post(f"/console/plugs/{mine.id}/status/", {"status": "debug"})
    mine.refresh_from_db()
    assert mine.status == "debug"


def test_non_staff_users_never_open_another_account(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = other_tenant.plug("their-plug").plug
    _staff("clerk", is_staff=False, is_superuser=True)
    _staff("gone", is_active=False)
    for username in ("clerk", "gone"):
        response = Client().post("/console/staff/sign-in/", {"username": username, "password": "staff-pw-1"})
        assert response.status_code == 401
    # A Django user is no account: the account sign-in refuses it.
    assert Client().post(
        "/console/sign-in/", {"email": "clerk@x.example", "password": "staff-pw-1"}
    ).status_code in (
        400,
        401,
    )
    # An account's session cannot pick another account, nor reach the picker.
    client = signed_in(tenant)
    assert client.get(f"/console/plugs/?account={other_tenant.account.id}").status_code == 200
    assert (
        "their-plug" not in client.get(f"/console/plugs/?account={other_tenant.account.id}").content.decode()
    )
    assert client.get(f"/console/plugs/{theirs.id}/?account={other_tenant.account.id}").status_code == 404
    assert client.get("/console/accounts/")["Location"].startswith("/console/staff/sign-in/")
    assert client.post("/console/accounts/", {"account": other_tenant.account.id}).status_code == 302
    assert "their-plug" not in client.get("/console/plugs/").content.decode()


def test_a_staff_user_signed_in_to_the_admin_is_not_asked_again(tenant: Tenant) -> None:
    _staff()
    client = Client()
    response = client.post(
        "/admin/login/", {"username": "operator", "password": "staff-pw-1", "next": "/admin/"}
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
    # The console's pages lead to the account picker, not to a sign-in form.
    response = client.get("/console/plugs/")
    assert response.status_code == 302 and response["Location"].startswith("/console/accounts/?next=")
    assert tenant.email in client.get("/console/accounts/").content.decode()
    client.post("/console/accounts/", {"account": tenant.account.id})
    assert client.get("/console/").status_code == 200
    assert "staff operator" in client.get("/console/plugs/").content.decode()
    # A user the admin signed in who is not staff (any more) gets nothing of the console.
    other = Client()
    other.post("/admin/login/", {"username": "operator", "password": "staff-pw-1", "next": "/admin/"})
    from django.contrib.auth.models import User

    User.objects.filter(username="operator").update(is_staff=False)
    assert other.get("/console/plugs/")["Location"].startswith("/console/sign-in/")


def test_a_staff_session_ends_when_the_user_stops_being_staff(tenant: Tenant) -> None:
    user = _staff()
    client = Client()
    client.post("/console/staff/sign-in/", {"username": "operator", "password": "staff-pw-1"})
    client.post("/console/accounts/", {"account": tenant.account.id})
    assert client.get("/console/plugs/").status_code == 200
    user.is_staff = False
    user.save()
    assert client.get("/console/plugs/")["Location"].startswith("/console/sign-in/")


def test_the_chart_takes_a_custom_range(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    import json
    from datetime import UTC, datetime

    plug = tenant.plug("thermostat").plug
    base = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    # 2,000 points a minute apart from 2026-03-01T00:00Z; 10 more a day later.
    points = [PointIn(channel="t", data=float(i % 7), at=base + i * 60_000, of=plug.id) for i in range(2000)]
    points += [
        PointIn(channel="t", data=100.0 + i, at=base + 3 * 86_400_000 + i, of=plug.id) for i in range(10)
    ]
    points_write(principal=device(tenant, plug), points=points, source="http")
    client = signed_in(tenant)

    def series(query: str) -> dict[str, Any]:
        response = client.get(f"/console/plugs/{plug.id}/?chart=t&{query}")
        assert response.status_code == 200, response.content.decode()
        found = re.search(
            r'<script id="series" type="application/json">(.*?)</script>', response.content.decode(), re.S
        )
        assert found
        return json.loads(found.group(1))  # type: ignore[no-any-return]

    with django_assert_max_num_queries(14):
        small = series("window=range&start=2026-03-01T00:00&end=2026-03-01T01:00")
    # Both ends inclusive: minutes 0..60, raw.
    assert small["bucket"] is None and len(small["points"]) == 61
    assert small["points"][0][0] == base and small["fixed"] is True
    big = series("start=2026-03-01T00:00&end=2026-03-04T00:00")  # the range alone picks "range"
    # 3 days in 600 buckets is 7.2 min, rounded up to whole minutes, which the rollups answer.
    assert big["bucket"] == 8 * 60_000 and 0 < len(big["points"]) <= 600
    assert big["start"] == base and big["end"] == base + 3 * 86_400_000
    later = series("start=2026-03-04T00:00&end=2026-03-04T00:01")
    assert [p[1] for p in later["points"]] == [100.0 + i for i in range(10)]
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    assert (
        '<label for="chart-from">From (UTC)</label>' in page
        and '<label for="chart-to">To (UTC)</label>' in page
    )


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-03-02T00:00&end=2026-03-01T00:00",  # to before from
        "start=2026-03-01T00:00&end=2026-03-01T00:00",  # empty
        "start=yesterday&end=2026-03-01T00:00",  # unparsable
        "start=2026-03-01T00:00&end=99999-01-01T00:00",
        "start=1900-01-01T00:00&end=2026-03-01T00:00",  # huge, and before the epoch
        "start=2000-01-01T00:00&end=2026-03-01T00:00",  # huge
        "start=2026-03-01T00:00&end=9999-12-31T23:59",
        "start=2026-03-01T00:00",  # half a range
        "window=range",
        "window=fortnight",
    ],
)
def test_a_bad_chart_range_is_a_form_error(tenant: Tenant, query: str) -> None:
    plug = tenant.plug("thermostat").plug
    points_write(
        principal=device(tenant, plug), points=[PointIn(channel="t", data=1, of=plug.id)], source="http"
    )
    response = signed_in(tenant).get(f"/console/plugs/{plug.id}/?chart=t&{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error" role="alert"' in html and 'id="series"' in html  # the last hour instead


def test_property_settings_change_through_the_management_service(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    plug = tenant.plug("thermostat").plug
    sibling = tenant.plug("sibling").plug
    theirs = other_tenant.plug("theirs").plug
    for owner, p in ((tenant, plug), (tenant, sibling), (other_tenant, theirs)):
        points_write(
            principal=device(owner, p), points=[PointIn(channel="t", data=1, of=p.id)], source="http"
        )
    prop = Property.objects.get(plug=plug, name="t")
    client = signed_in(tenant)
    page = client.get(f"/console/plugs/{plug.id}/").content.decode()
    for field in ("type", "access", "publish", "min", "max", "retention"):
        assert f'<label for="id_prop-{prop.id}-{field}">' in page
    url = f"/console/plugs/{plug.id}/properties/{prop.id}/"
    form = {
        "type": "number",
        "access": "public",
        "publish": "changed",
        "min": "-5",
        "max": "50",
        "retention": "3600",
    }
    response = client.post(url, {f"prop-{prop.id}-{k}": v for k, v in form.items()})
    assert response.status_code == 302 and response["Location"].endswith("#settings")
    prop.refresh_from_db()
    assert (prop.type, prop.access, prop.publish, prop.min, prop.max, prop.retention) == (
        "number",
        "public",
        "changed",
        -5.0,
        50.0,
        3600,
    )
    for bad in (
        {"min": "10", "max": "1"},  # min > max: the service's rule
        {"type": "string"},  # a string property has no boundaries
        {"retention": "999999999999"},
        {"retention": "0"},
        {"min": "inf"},
        {"type": "colour"},
    ):
        response = client.post(url, {f"prop-{prop.id}-{k}": v for k, v in {**form, **bad}.items()})
        assert response.status_code == 400, bad
        assert 'role="alert"' in response.content.decode()
        prop.refresh_from_db()
        assert (prop.type, prop.min, prop.max, prop.retention) == ("number", -5.0, 50.0, 3600)
    # A property of another plug, or of another account, under this plug's address: not found.
    for other in (Property.objects.get(plug=sibling), Property.objects.get(plug=theirs)):
        fields = {f"prop-{other.id}-{k}": v for k, v in form.items()}
        assert client.post(f"/console/plugs/{plug.id}/properties/{other.id}/", fields).status_code == 404
    their_prop = Property.objects.get(plug=theirs)
    fields = {f"prop-{their_prop.id}-{k}": v for k, v in form.items()}
    assert client.post(f"/console/plugs/{theirs.id}/properties/{their_prop.id}/", fields).status_code == 404
    their_prop.refresh_from_db()
    assert their_prop.access == "protected"


def test_every_page_runs_a_bounded_number_of_queries(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    """The bench's pages (bench/console.py) with small fixtures: the count does not grow with
    the plugs, properties or points (keyset pages, one query for the latest values)."""
    plugs = [tenant.plug(f"node-{i:02d}", hwid=f"HW-{i}").plug for i in range(60)]
    plug = plugs[0]
    points = [
        PointIn(channel=f"p{i % 5}", data=float(i), at=1_700_000_000_000 + i, of=plug.id) for i in range(700)
    ]
    points_write(principal=device(tenant, plug), points=points, source="http")
    client = signed_in(tenant)
    last = plugs[54]
    for path, most in (
        ("/console/plugs/", 4),
        (f"/console/plugs/?after={last.name}:{last.id}", 4),
        ("/console/plugs/?q=node-5", 4),
        (f"/console/plugs/{plug.id}/", 14),
        (f"/console/plugs/{plug.id}/?chart=p1&window=week", 14),
        (f"/console/plugs/{plug.id}/?chart=p1&start=2023-11-14T00:00&end=2023-11-15T00:00", 14),
        ("/console/channels/?mask=%23", 6),
        ("/console/keys/", 6),
    ):
        with django_assert_max_num_queries(most):
            assert client.get(path).status_code == 200, path


def _unlabelled(html: str) -> list[str]:
    """The visible form controls of a page with no <label for> and no aria-label."""
    from html.parser import HTMLParser

    controls: list[dict[str, str | None]] = []
    labelled: set[str] = set()

    class Walk(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "label" and a.get("for"):
                labelled.add(a["for"] or "")
            if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
                controls.append(a)

    Walk().feed(html)
    return [
        str(c.get("name"))
        for c in controls
        if not c.get("aria-label") and (c.get("id") or "") not in labelled
    ]


def test_every_input_has_a_label(tenant: Tenant) -> None:
    from django.contrib.auth.models import User

    plug = tenant.plug("thermostat").plug
    points_write(
        principal=device(tenant, plug), points=[PointIn(channel="t", data=1, of=plug.id)], source="http"
    )
    for page in ("/console/sign-in/", "/console/staff/sign-in/"):
        assert _unlabelled(Client().get(page).content.decode()) == [], page
    client = signed_in(tenant)
    for page in ("/console/plugs/", f"/console/plugs/{plug.id}/", "/console/channels/", "/console/keys/"):
        html = client.get(page).content.decode()
        assert "<input" in html or "<select" in html
        assert _unlabelled(html) == [], page
    User.objects.create_user("operator", password="staff-pw-1", is_staff=True)
    staff = Client()
    staff.post("/console/staff/sign-in/", {"username": "operator", "password": "staff-pw-1"})
    assert _unlabelled(staff.get("/console/accounts/").content.decode()) == []


def test_the_plug_page_downloads_the_charted_property(tenant: Tenant, other_tenant: Tenant) -> None:
    plug = tenant.plug("thermostat").plug
    points = [PointIn(channel="t", data=i, at=1_700_000_000_000 + i, of=plug.id) for i in range(3)]
    points_write(principal=device(tenant, plug), points=points, source="http")
    client = signed_in(tenant)
    page = client.get(f"/console/plugs/{plug.id}/?chart=t").content.decode()
    link = f"/console/plugs/{plug.id}/export/?property=t&amp;format=csv"
    assert link in page
    response = client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "t,v" and [line.split(",")[1] for line in lines[1:]] == ["0", "1", "2"]
    ndjson = client.get(f"/console/plugs/{plug.id}/export/?property=t&format=ndjson")
    assert len(b"".join(ndjson.streaming_content).splitlines()) == 3
    assert client.get(f"/console/plugs/{plug.id}/export/?property=nope").status_code == 404
    assert signed_in(other_tenant).get(link.replace("&amp;", "&")).status_code == 404
