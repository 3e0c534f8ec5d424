"""A profile property's settings changed from the profile's console page, through
`profile_property_update` (the service of `PUT /v3/properties/{id}`): the devices' inherited
rows follow; the service's refusals are the page's errors; another account's profile, or a
base profile's declaration, cannot be changed from here."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def signed_in(tenant: Tenant) -> Client:
    client = Client()
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 302
    return client


def declared_on(client: Client, profile: DeviceProfile, name: str) -> ProfileProperty:
    declare = {"name": name, "type": "number", "access": "protected", "publish": "always", "max": "85"}
    assert client.post(f"/console/profiles/{profile.id}/properties/", declare).status_code == 302
    return ProfileProperty.objects.get(profile=profile, name=name)


def settings(prop: ProfileProperty, **changes: str) -> dict[str, str]:
    """The change form's fields as the page sends them (each prefixed with the property's id)."""
    fields = {
        "type": prop.type,
        "access": prop.access,
        "publish": prop.publish,
        "min": "" if prop.min is None else str(prop.min),
        "max": "" if prop.max is None else str(prop.max),
        "retention": "" if prop.retention is None else str(prop.retention),
        "friendly_name": prop.friendly_name,
        "description": prop.description,
        **changes,
    }
    return {f"change-{prop.id}-{k}": v for k, v in fields.items()}


def test_a_profile_propertys_settings_are_changed_and_its_devices_follow(tenant: Tenant) -> None:
    client = signed_in(tenant)
    profile = DeviceProfile.objects.create(account=tenant.account, name="thermostat-v1")
    plug = tenant.plug("living-room").plug
    Plug.objects.filter(id=plug.id).update(profile=profile)
    declared = declared_on(client, profile, "temperature")
    url = f"/console/profiles/{profile.id}/properties/{declared.id}/"
    page = client.get(f"/console/profiles/{profile.id}/").content.decode()
    assert 'aria-label="Settings of temperature"' in page and f'action="{url}"' in page
    max_input = re.search(rf'<input[^>]*id="id_change-{declared.id}-max"[^>]*>', page)
    assert max_input is not None and 'value="85.0"' in max_input.group()  # today's value shown

    change = settings(declared, access="public", min="-40", max="60", retention="3600", description="air")
    answer = client.post(url, change)
    assert answer.status_code == 302
    assert answer["Location"] == f"/console/profiles/{profile.id}/#property-settings"
    declared.refresh_from_db()
    assert (declared.access, declared.min, declared.max, declared.retention, declared.description) == (
        "public",
        -40,
        60,
        3600,
        "air",
    )
    inherited = Property.objects.get(plug=plug, name="temperature")
    assert (inherited.inherited_from_id, inherited.access, inherited.max) == (declared.id, "public", 60)

    # The service's rule (a string keeps no boundaries) is the page's error; nothing changes.
    refused = client.post(url, settings(declared, type="string"))
    body = refused.content.decode()
    assert refused.status_code == 400 and 'role="alert"' in body
    assert body.count("<details open>") == 1  # the refused form is open, with what was typed
    declared.refresh_from_db()
    assert declared.type == "number"
    # A form that is not even well-formed never reaches the service.
    assert client.post(url, settings(declared, retention="-5")).status_code == 400
    # Changing is a POST; an unknown property of the profile is the 404 page.
    assert client.get(url).status_code == 405
    assert client.post(f"/console/profiles/{profile.id}/properties/nope/", change).status_code == 404


def test_another_accounts_profile_property_cannot_be_changed(tenant: Tenant, other_tenant: Tenant) -> None:
    ours = signed_in(tenant)
    profile = DeviceProfile.objects.create(account=tenant.account, name="thermostat-v1")
    declared = declared_on(ours, profile, "temperature")
    change = settings(declared, access="public", max="1")
    theirs = signed_in(other_tenant)
    their_profile = DeviceProfile.objects.create(account=other_tenant.account, name="theirs")
    # Our profile and property, by their session: the 404 page, as for the API.
    assert theirs.post(f"/console/profiles/{profile.id}/properties/{declared.id}/", change).status_code == 404
    # Our property under their own profile's address: not theirs either.
    assert (
        theirs.post(f"/console/profiles/{their_profile.id}/properties/{declared.id}/", change).status_code
        == 404
    )
    declared.refresh_from_db()
    assert (declared.access, declared.max) == ("protected", 85)


def test_a_base_profiles_property_is_changed_on_the_base_profile_only(tenant: Tenant) -> None:
    client = signed_in(tenant)
    base = DeviceProfile.objects.create(account=tenant.account, name="sensor")
    derived = DeviceProfile.objects.create(account=tenant.account, name="sensor-v2", base_profile=base)
    declared = declared_on(client, base, "humidity")
    page = client.get(f"/console/profiles/{derived.id}/").content.decode()
    assert "humidity" in page and 'aria-label="Settings of humidity"' not in page
    url = f"/console/profiles/{derived.id}/properties/{declared.id}/"
    assert client.post(url, settings(declared, access="public")).status_code == 404
    declared.refresh_from_db()
    assert declared.access == "protected"
