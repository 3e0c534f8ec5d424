"""The console's fleet pages (device profiles, apps, users, sub-accounts) through Django's test
client: each change through the API's own service, another account's objects a 404 page."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from devices.models import Control, DeviceProfile, Plug, ProfileProperty, Property
from plugboard.models import Account, ApiKey, User
from plugboard.services import apiclient_create
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def signed_in(tenant: Tenant) -> Client:
    client = Client()
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 302
    return client


def test_device_profiles_list_create_show_and_delete(tenant: Tenant, other_tenant: Tenant) -> None:
    client = signed_in(tenant)
    response = client.post("/console/profiles/", {"name": "thermostat-v1"})
    assert response.status_code == 302
    profile = DeviceProfile.objects.get(account=tenant.account, name="thermostat-v1")
    assert response["Location"] == f"/console/profiles/{profile.id}/"
    derived = client.post("/console/profiles/", {"name": "thermostat-v2", "base": "thermostat-v1"})
    assert derived.status_code == 302
    again = client.post("/console/profiles/", {"name": "THERMOSTAT-v1"})  # the service's rule: 409
    assert again.status_code == 400 and "already exists" in again.content.decode()
    plug = tenant.plug("living-room").plug
    Plug.objects.filter(id=plug.id).update(profile=profile)
    listing = client.get("/console/profiles/").content.decode()
    assert "thermostat-v1" in listing and "thermostat-v2" in listing
    page = client.get(f"/console/profiles/{profile.id}/").content.decode()
    assert "living-room" in page and "(1)" in page
    # In use, and the base of another: the service refuses, the page says why.
    refused = client.post(f"/console/profiles/{profile.id}/delete/")
    assert refused.status_code == 409 and "used by 1 device" in refused.content.decode()
    theirs = DeviceProfile.objects.create(account=other_tenant.account, name="theirs")
    assert client.get(f"/console/profiles/{theirs.id}/").status_code == 404
    assert client.post(f"/console/profiles/{theirs.id}/delete/").status_code == 404
    assert DeviceProfile.objects.filter(id=theirs.id).exists()
    v2 = DeviceProfile.objects.get(name="thermostat-v2")
    # Edited through profile_update: a base that would make a loop is the service's refusal.
    edit = {"friendly_name": "Thermostat, first model", "description": "wall-mounted", "base": ""}
    assert client.post(f"/console/profiles/{profile.id}/", edit).status_code == 302
    profile.refresh_from_db()
    assert (profile.friendly_name, profile.description) == ("Thermostat, first model", "wall-mounted")
    loop = client.post(f"/console/profiles/{profile.id}/", {**edit, "base": "thermostat-v2"})
    assert loop.status_code == 400 and 'role="alert"' in loop.content.decode()
    profile.refresh_from_db()
    assert profile.base_profile_id is None
    assert client.post(f"/console/profiles/{v2.id}/delete/")["Location"] == "/console/profiles/"
    assert not DeviceProfile.objects.filter(id=v2.id).exists()


def test_apps_and_the_devices_plugged_into_them(tenant: Tenant, other_tenant: Tenant) -> None:
    app = tenant.plug("hvac-app", kind=Plug.Kind.CONTROLLER).plug
    things = [tenant.plug(f"vent-{i}").plug for i in range(3)]
    Control.objects.bulk_create(Control(controller=app, thing=t, rights="rw") for t in things)
    other_tenant.plug("their-app", kind=Plug.Kind.CONTROLLER)
    page = signed_in(tenant).get("/console/apps/").content.decode()
    row = page.split(f'data-plug="{app.id}"', 1)[1].split("</tr>", 1)[0]
    assert "3: " in row and all(t.name in row for t in things)
    assert "their-app" not in page and "vent-0</a>" not in page.split('data-plug="', 2)[0]


def test_users_are_added_given_a_role_and_removed(tenant: Tenant, other_tenant: Tenant) -> None:
    client = signed_in(tenant)
    response = client.post("/console/users/", {"email": "dev@example.com", "role": "viewer", "name": "Dev"})
    assert response.status_code == 200
    secret = re.search(r"data-secret>([^<]+)<", response.content.decode())
    assert secret and ApiKey.objects.filter(user__email="dev@example.com").exists()
    assert secret.group(1) not in client.get("/console/users/").content.decode()  # shown once
    user = User.objects.get(email="dev@example.com")
    assert client.post("/console/users/", {"email": "DEV@example.com", "role": "viewer"}).status_code == 400
    assert client.post(f"/console/users/{user.id}/", {"role": "developer"}).status_code == 302
    user.refresh_from_db()
    assert user.role == "developer"
    bad = client.post(f"/console/users/{user.id}/", {"role": "owner"})
    assert bad.status_code == 400 and "role must be one of" in bad.content.decode()
    theirs = User.objects.create(account=other_tenant.account, email="x@example.com", role="admin")
    assert client.post(f"/console/users/{theirs.id}/", {"delete": "1"}).status_code == 404
    assert client.post(f"/console/users/{user.id}/", {"delete": "1"}).status_code == 302
    assert not User.objects.filter(id=user.id).exists() and User.objects.filter(id=theirs.id).exists()


def test_a_master_session_creates_opens_and_leaves_a_sub_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    client = signed_in(tenant)
    response = client.post("/console/subaccounts/", {"name": "Branch office"})
    assert response.status_code == 200 and "Branch office" in response.content.decode()
    sub = Account.objects.get(parent=tenant.account, name="Branch office")
    Plug.objects.create(account=sub, name="branch-meter")
    tenant.plug("head-office-meter")
    assert client.post(f"/console/subaccounts/{sub.id}/open/")["Location"] == "/console/"
    # The console now acts in the sub-account: its plugs, not the parent's.
    plugs = client.get("/console/plugs/").content.decode()
    assert "branch-meter" in plugs and "head-office-meter" not in plugs and "Back to my account" in plugs
    assert 'data-stat="devices">1<' in client.get("/console/").content.decode()
    client.post("/console/subaccounts/leave/")
    plugs = client.get("/console/plugs/").content.decode()
    assert "head-office-meter" in plugs and "branch-meter" not in plugs
    # Another account's sub-account (or another account) is never opened.
    theirs = Account.objects.create(name="theirs", parent=other_tenant.account, password="!")
    assert client.post(f"/console/subaccounts/{theirs.id}/open/").status_code == 404
    assert client.post(f"/console/subaccounts/{other_tenant.account.id}/open/").status_code == 404
    assert "head-office-meter" in client.get("/console/plugs/").content.decode()


def test_an_api_client_is_edited_from_the_keys_page(tenant: Tenant, other_tenant: Tenant) -> None:
    """Through `apiclient_update`, the service of `PUT /v3/apiclients/{id}`: the secret stays,
    an unknown plug and the service's refusals are the page's errors, another account's key a 404."""
    client = signed_in(tenant)
    key, secret = apiclient_create(account=tenant.account, scope=["device:read-data"], name="dash")
    digest = key.secret_digest
    keys = client.get("/console/keys/").content.decode()
    assert f'href="/console/keys/{key.id}/edit/"' in keys
    page = client.get(f"/console/keys/{key.id}/edit/").content.decode()
    assert 'value="dash"' in page and 'value="device:read-data"' in page
    sensor = tenant.plug("sensor").plug
    change = {
        "name": "wall screen",
        "description": "lobby",
        "context": "devices",
        "plugs": sensor.id,
        "scope": ["device:read-data", "device:read"],
        "rate_limit": "600",
    }
    assert client.post(f"/console/keys/{key.id}/edit/", change)["Location"] == "/console/keys/"
    key.refresh_from_db()
    assert (key.name, key.description, key.rate_limit) == ("wall screen", "lobby", 600)
    assert key.context_type == "devices" and key.context_ids == [sensor.id]
    assert key.scope == ["device:read-data", "device:read"] and key.secret_digest == digest
    theirs = other_tenant.plug("theirs").plug
    unknown = client.post(f"/console/keys/{key.id}/edit/", {**change, "plugs": theirs.id})
    assert unknown.status_code == 400 and f"no plug {theirs.id}" in unknown.content.decode()
    empty = client.post(f"/console/keys/{key.id}/edit/", {**change, "context": "devices", "plugs": ""})
    assert empty.status_code == 400 and "lists at least one device" in empty.content.decode()
    key.refresh_from_db()
    assert key.context_ids == [sensor.id]
    their_key, _ = apiclient_create(account=other_tenant.account, scope=["device:read"])
    assert client.get(f"/console/keys/{their_key.id}/edit/").status_code == 404
    assert client.post(f"/console/keys/{their_key.id}/edit/", change).status_code == 404
    user_key, _ = tenant.user_key()
    assert client.get(f"/console/keys/{user_key}/edit/").status_code == 404


def test_a_profile_property_is_declared_and_removed_from_the_profile_page(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """Through `profile_property_define` and `profile_property_delete`, the services of
    `POST /v3/properties?owner=<profile>` and `DELETE /v3/properties/{id}`: the profile's devices
    get the property; the service's refusals are the page's errors."""
    client = signed_in(tenant)
    profile = DeviceProfile.objects.create(account=tenant.account, name="thermostat-v1")
    plug = tenant.plug("living-room").plug
    Plug.objects.filter(id=plug.id).update(profile=profile)
    url = f"/console/profiles/{profile.id}/properties/"
    assert 'id="declare-property"' in client.get(f"/console/profiles/{profile.id}/").content.decode()
    declare = {
        "name": "temperature",
        "type": "number",
        "access": "public",
        "publish": "always",
        "min": "-40",
        "max": "85",
    }
    assert client.post(url, declare)["Location"] == f"/console/profiles/{profile.id}/"
    declared = ProfileProperty.objects.get(profile=profile, name="temperature")
    assert (declared.type, declared.access, declared.min, declared.max) == ("number", "public", -40, 85)
    inherited = Property.objects.get(plug=plug, name="temperature")
    assert inherited.inherited_from_id == declared.id and inherited.type == "number"
    page = client.get(f"/console/profiles/{profile.id}/").content.decode()
    assert f'data-property="{declared.id}"' in page and "Remove temperature" in page
    again = client.post(url, {**declare, "name": "Temperature"})  # the service's rule: 409
    assert again.status_code == 409 and "already has a property" in again.content.decode()
    bad = client.post(url, {**declare, "name": "humidity", "min": "10", "max": "1"})
    assert bad.status_code == 400 and 'role="alert"' in bad.content.decode()
    assert not ProfileProperty.objects.filter(profile=profile, name="humidity").exists()
    theirs = DeviceProfile.objects.create(account=other_tenant.account, name="theirs")
    assert client.post(f"/console/profiles/{theirs.id}/properties/", declare).status_code == 404
    their_prop = ProfileProperty.objects.create(profile=theirs, name="x")
    remove = f"/console/profiles/{profile.id}/properties/{declared.id}/remove/"
    assert (
        client.post(f"/console/profiles/{profile.id}/properties/{their_prop.id}/remove/").status_code == 404
    )
    assert client.post(f"/console/profiles/{theirs.id}/properties/{their_prop.id}/remove/").status_code == 404
    assert client.post(remove)["Location"] == f"/console/profiles/{profile.id}/"
    assert not ProfileProperty.objects.filter(id=declared.id).exists()
    # The device keeps its row (and its data) as its own.
    kept = Property.objects.get(plug=plug, name="temperature")
    assert kept.inherited_from_id is None


def test_a_provisioning_key_is_edited_with_its_context_kept(tenant: Tenant) -> None:
    """Its context (one profile) is not a plug list: the page keeps it and changes the rest."""
    client = signed_in(tenant)
    profile = DeviceProfile.objects.create(account=tenant.account, name="meter")
    key, _ = apiclient_create(
        account=tenant.account,
        scope=["device:provision"],
        context_type="deviceprofile",
        context_ids=[profile.id],
    )
    assert 'value="deviceprofile"' in client.get(f"/console/keys/{key.id}/edit/").content.decode()
    change = {
        "name": "factory",
        "description": "",
        "context": "deviceprofile",
        "plugs": "",
        "scope": ["device:provision"],
        "rate_limit": "60",
    }
    assert client.post(f"/console/keys/{key.id}/edit/", change)["Location"] == "/console/keys/"
    key.refresh_from_db()
    assert (key.name, key.rate_limit, key.context_type, key.context_ids) == (
        "factory",
        60,
        "deviceprofile",
        [profile.id],
    )
    # The service's rule for provisioning keys holds on the page too.
    refused = client.post(f"/console/keys/{key.id}/edit/", {**change, "scope": ["device:read"]})
    assert refused.status_code == 400 and "provisioning key" in refused.content.decode()
    assert client.post(f"/console/keys/{key.id}/edit/", {**change, "context": "account"}).status_code == 400
