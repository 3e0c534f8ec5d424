"""The Django admin (SPEC §9): every model has a changelist that answers, with search and
filters; passwords go in hashed and secrets never come out."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import User
from django.test import Client

from alerts.models import Alert, DeviceActivity, Incident
from commands.models import Command, MqttSession
from commands.services import CommandOrder, commands_create
from data.models import DataPoint, JournalEntry, Rollup, RollupMark
from devices.models import (
    Control,
    DeviceLogEntry,
    DeviceProfile,
    Plug,
    ProductionTemplate,
    ProfileProperty,
    Property,
    TemplateHwid,
)
from devices.services.plugs import Enrolled, template_create
from outbound.models import DataConnector, OutboxMessage, OutboxStream, OutboxTarget
from plugboard.models import Account, ApiKey
from plugboard.models import User as AccountUser
from plugboard.services import key_create
from plugboard.timestamps import now_ms
from tests.conftest import Tenant

# model → query strings its changelist must answer (search and each filter).
CHANGELISTS: dict[type, list[str]] = {
    Account: ["q=owner", "q=com-x", "is_active__exact=1", "date_created__gte=2020-01-01T00:00:00%2B00:00"],
    ApiKey: ["q=_key_x", "q=thermostat", "kind__exact=device", "context_type__exact=account"],
    Plug: [
        "q=thermo",
        "kind__exact=thing",
        "status__exact=debug",
        "connected__exact=0",
        "origin__exact=prototype",
    ],
    Control: ["q=dashboard", "rights__exact=rw"],
    ProductionTemplate: ["q=thermo-v2"],
    TemplateHwid: ["q=SN-1"],
    Property: ["q=temp", "type__exact=number", "access__exact=public", "publish__exact=always"],
    DeviceLogEntry: ["q=BadValue", "source__exact=http", "code__exact=BadValue"],
    DeviceProfile: ["q=thermostats", "q=Acme", "vendor_name__exact=Acme"],
    ProfileProperty: ["q=humidity", "type__exact=number", "access__exact=protected"],
    DataPoint: [
        "q=temperature",
        "q=000000000000000000000000",
        "q=dev-000000000000000000000000",
        "q=com-000000000000000000000000",
        "expires=yes",
        "expires=no",
    ],
    JournalEntry: [
        "q=1",
        "q=temp",
        "q=_key_x",
        "q=owner@example.com",
        "event__exact=data",
        "source__exact=http",
    ],
    Command: ["q=setpoint", "state__exact=pending"],
    MqttSession: ["q=thermo"],
    AccountUser: ["q=dev@", "q=owner@example.com", "role__exact=developer", "is_active__exact=1"],
    Rollup: ["q=temperature", "level__exact=60000"],
    RollupMark: ["q=temperature"],
    OutboxStream: ["q=_dcn_admin", "kind__exact=dataconnector"],
    OutboxMessage: ["q=delivery-1", "dead__exact=0"],
    OutboxTarget: ["q=_dcn_admin", "kind__exact=dataconnector"],
    DataConnector: ["q=_dcn_admin", "type__exact=http", "disabled__exact=0"],
    Alert: ["q=too-hot", "status__exact=enabled"],
    Incident: ["q=_inc_admin", "status__exact=active", "severity__exact=warning"],
    DeviceActivity: ["state__exact=unknown"],
}


def url(model: type, suffix: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password"))
    return client


@pytest.fixture
def world(tenant: Tenant, thing: Enrolled) -> dict[str, Any]:
    """One row of every model."""
    app = tenant.plug("dashboard", kind="controller")
    Control.objects.create(controller=app.plug, thing=thing.plug)
    template = template_create(account=tenant.account, name="thermo-v2", hwids=[("SN-1", "pw", None)])
    prop = Property.objects.create(plug=thing.plug, name="temperature", type="number", access="public")
    profile = DeviceProfile.objects.create(account=tenant.account, name="thermostats", vendor_name="Acme")
    declared = ProfileProperty.objects.create(profile=profile, name="humidity", type="number")
    DeviceLogEntry.objects.create(
        plug=thing.plug, source="http", property="temp", code="BadValue", message="m"
    )
    point = DataPoint.objects.create(
        account_id=tenant.account.id, channel="temperature", of=thing.plug.id, at=now_ms(), data=21.5
    )
    entry = JournalEntry.objects.create(
        account_id=tenant.account.id,
        received_at=now_ms(),
        source="http",
        credential=tenant.email,
        point_id=point.id,
        channel="temperature",
        of=thing.plug.id,
        at=point.at,
        data=21.5,
    )
    (command,) = commands_create(
        orders=[
            CommandOrder(
                account_id=tenant.account.id,
                plug_id=thing.plug.id,
                property="setpoint",
                value=20,
                at=now_ms(),
                point_id="",
                credential=tenant.email,
            )
        ]
    )
    session = MqttSession.objects.create(
        account=tenant.account, client_id=thing.plug.id, plug=thing.plug, subscriptions={"a/#": 1}
    )
    user = AccountUser.objects.create(account=tenant.account, email="dev@example.com", role="developer")
    at = point.at - point.at % 60_000
    rollup = Rollup.objects.create(
        account_id=tenant.account.id, channel="temperature", of=thing.plug.id, level=60_000, bucket=at,
        count=1, numbers=1, total=21.5, low=21.5, high=21.5, first_at=point.at, first=21.5,
        last_at=point.at, last=21.5,
    )  # fmt: skip
    mark = RollupMark.objects.create(
        account_id=tenant.account.id, channel="temperature", of=thing.plug.id, minute=at
    )
    connector = DataConnector.objects.create(
        id="_dcn_admin", account=tenant.account, app=app.plug, type="http", secrets="encrypted-secret"
    )
    stream = OutboxStream.objects.create(kind="dataconnector", target=connector.id, key=thing.plug.id)
    message = OutboxMessage.objects.create(
        stream=stream, account_id=tenant.account.id, payload="[]", created_at=now_ms(),
        expires_at=now_ms() + 86_400_000, delivery_id="delivery-1",
    )  # fmt: skip
    counters = OutboxTarget.objects.create(kind="dataconnector", target=connector.id, delivered=1)
    alert = Alert.objects.create(
        account=tenant.account, owner_id=thing.plug.id, name="too-hot", trigger="temperature"
    )
    incident = Incident.objects.create(
        id="_inc_admin", account=tenant.account, alert=alert, plug=thing.plug, severity="warning"
    )
    activity = DeviceActivity.objects.create(plug=thing.plug, account_id=tenant.account.id)
    return {
        Rollup: rollup,
        RollupMark: mark,
        OutboxStream: stream,
        OutboxMessage: message,
        OutboxTarget: counters,
        DataConnector: connector,
        Alert: alert,
        Incident: incident,
        DeviceActivity: activity,
        AccountUser: user,
        Account: tenant.account,
        ApiKey: thing.key,
        Plug: thing.plug,
        Control: Control.objects.get(),
        ProductionTemplate: template,
        TemplateHwid: template.hwids.get(),
        Property: prop,
        DeviceLogEntry: DeviceLogEntry.objects.get(),
        DeviceProfile: profile,
        ProfileProperty: declared,
        DataPoint: point,
        JournalEntry: entry,
        Command: command,
        MqttSession: session,
    }


@pytest.mark.parametrize("model", list(CHANGELISTS), ids=lambda m: m.__name__)
def test_changelist_search_filters_and_change_page(
    admin_client: Client, world: dict[str, Any], model: type
) -> None:
    response = admin_client.get(url(model))
    assert response.status_code == 200
    assert str(world[model].pk) in response.content.decode()
    for query in CHANGELISTS[model]:
        assert admin_client.get(url(model) + "?" + query).status_code == 200, query
    # The admin's own links quote the key (`_` is its escape: `_dpf_26…` would unquote to `&…`).
    assert admin_client.get(url(model, f"{quote(world[model].pk)}/change/")).status_code == 200


def test_every_model_is_registered() -> None:
    from django.apps import apps
    from django.contrib import admin

    labels = ("plugboard", "devices", "data", "commands", "outbound", "alerts")
    ours = [m for m in apps.get_models() if m._meta.app_label in labels]
    assert set(ours) == set(CHANGELISTS)
    assert all(admin.site.is_registered(m) for m in ours)


def test_search_finds_the_row(admin_client: Client, world: dict[str, Any], thing: Enrolled) -> None:
    page = admin_client.get(url(DataPoint) + f"?q={thing.plug.id}").content.decode()
    assert world[DataPoint].id in page
    page = admin_client.get(url(DataPoint) + "?q=nosuchchannel").content.decode()
    assert world[DataPoint].id not in page
    page = admin_client.get(url(Plug) + "?q=thermo").content.decode()
    assert thing.plug.id in page and "dashboard" not in page


def test_add_account_hashes_the_master_password(admin_client: Client, db: None) -> None:
    assert admin_client.get(url(Account, "add/")).status_code == 200
    response = admin_client.post(
        url(Account, "add/"),
        {"email": "New@Example.com", "name": "New", "is_active": "on", "new_password": "s3cret!"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get(email="new@example.com")
    assert account.password != "s3cret!" and account.check_password("s3cret!")


def test_add_account_needs_a_password_and_a_free_email(admin_client: Client, tenant: Tenant) -> None:
    response = admin_client.post(url(Account, "add/"), {"email": "x@example.com", "is_active": "on"})
    assert response.status_code == 200 and not Account.objects.filter(email="x@example.com").exists()
    response = admin_client.post(url(Account, "add/"), {"email": tenant.email.upper(), "new_password": "p"})
    assert response.status_code == 200 and Account.objects.count() == 1


def test_change_account_keeps_or_replaces_the_password(admin_client: Client, tenant: Tenant) -> None:
    change = url(Account, f"{quote(tenant.account.pk)}/change/")
    page = admin_client.get(change).content.decode()
    assert tenant.account.password not in page  # the hash is not shown
    admin_client.post(
        change, {"email": tenant.email, "name": "Renamed", "is_active": "on", "new_password": ""}
    )
    tenant.account.refresh_from_db()
    assert tenant.account.name == "Renamed" and tenant.account.check_password(tenant.password)
    admin_client.post(
        change, {"email": tenant.email, "name": "Renamed", "is_active": "on", "new_password": "n3w"}
    )
    tenant.account.refresh_from_db()
    assert tenant.account.check_password("n3w")


def test_api_key_secrets_never_show(admin_client: Client, thing: Enrolled) -> None:
    key = ApiKey.objects.get(id=thing.key.id)
    page = admin_client.get(url(ApiKey, f"{quote(key.pk)}/change/")).content.decode()
    assert key.secret_digest not in page and key.secret_encrypted not in page and thing.auth not in page
    assert 'name="secret_digest"' not in page and 'name="secret_encrypted"' not in page
    assert admin_client.get(url(ApiKey, "add/")).status_code == 403


def test_regenerate_action_shows_the_new_secret_once(admin_client: Client, tenant: Tenant) -> None:
    key, secret = key_create(account=tenant.account, kind="user")
    response = admin_client.post(
        url(ApiKey), {"action": "regenerate_secrets", "_selected_action": [key.pk]}, follow=True
    )
    assert response.status_code == 200
    key.refresh_from_db()
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and key.id in shown[0] and secret not in shown[0]


def test_add_plug_gives_it_a_device_key(admin_client: Client, tenant: Tenant) -> None:
    response = admin_client.post(
        url(Plug, "add/"),
        {
            "account": tenant.account.pk,
            "name": "from-admin",
            "kind": "thing",
            "origin": "prototype",
            "status": "ok",
            "tags": "[]",
            "props": "{}",
            "perm": '{"of": {"r": [], "w": []}, "ctrl": "rw"}',
            "friendly_name": "",
            "description": "",
            "hwid": "",
            "properties-TOTAL_FORMS": "0",
            "properties-INITIAL_FORMS": "0",
            "controlled_by-TOTAL_FORMS": "0",
            "controlled_by-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    plug = Plug.objects.get(name="from-admin")
    assert ApiKey.objects.filter(plug=plug, kind="device").count() == 1


def test_template_hwid_passwords_are_hashed(admin_client: Client, tenant: Tenant) -> None:
    template = template_create(account=tenant.account, name="m")
    response = admin_client.post(
        url(TemplateHwid, "add/"),
        {
            "template": template.pk,
            "hwid": "SN-9",
            "new_enroll_password": "enroll",
            "new_control_password": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = TemplateHwid.objects.get(hwid="SN-9")
    assert entry.enroll_password.startswith(("pbkdf2", "argon2", "bcrypt", "md5", "scrypt"))
    assert entry.enroll_password != "enroll" and entry.control_password == ""
    missing = admin_client.post(url(TemplateHwid, "add/"), {"template": template.pk, "hwid": "SN-10"})
    assert missing.status_code == 200 and not TemplateHwid.objects.filter(hwid="SN-10").exists()


def test_large_tables_are_read_only(admin_client: Client, world: dict[str, Any]) -> None:
    for model in (DataPoint, JournalEntry):
        assert admin_client.get(url(model, "add/")).status_code == 403
        assert admin_client.post(url(model, f"{world[model].pk}/delete/"), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=world[model].pk).exists()


def test_a_connectors_saved_credentials_never_show(admin_client: Client, world: dict[str, Any]) -> None:
    page = admin_client.get(url(DataConnector, "_dcn_admin/change/")).content.decode()
    assert "_dcn_admin" in page and "encrypted-secret" not in page
