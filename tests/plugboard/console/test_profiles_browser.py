"""A profile property's settings changed on the profile's page in a real headless Chromium
against a real `manage.py serve`: the labelled form, the service's refusal shown on the open
form, a saved change on the page and in the devices' inherited rows."""

from __future__ import annotations

from typing import Any

import pytest

from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from tests.conftest import Tenant
from tests.support import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_profile_propertys_settings_changed_in_the_browser(
    console_server: ServerProcess, browser: Any, tenant: Tenant
) -> None:
    from playwright.sync_api import expect

    server = console_server
    server.http("GET", "/warm-up", timeout=60)  # loads the URL conf and the views (slow when busy)
    profile = DeviceProfile.objects.create(account=tenant.account, name="thermostat-v1")
    plug = tenant.plug("living-room").plug
    Plug.objects.filter(id=plug.id).update(profile=profile)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.base + "/console/sign-in/")
        page.get_by_label("Email").fill(tenant.email)
        page.get_by_label("Master password").fill(tenant.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/")
        page.goto(server.base + f"/console/profiles/{profile.id}/")

        declare = page.locator("#declare-property")
        declare.get_by_label("Property name").fill("temperature")
        declare.get_by_label("Type").select_option("number")
        declare.get_by_label("Maximum (optional)").fill("85")
        declare.get_by_role("button", name="Declare").click()
        page.wait_for_url(f"**/console/profiles/{profile.id}/")

        settings = page.get_by_role("form", name="Settings of temperature")
        expect(settings).to_be_hidden()  # folded until its summary is opened
        page.locator("#property-settings summary", has_text="temperature").click()
        expect(settings.get_by_label("Maximum (optional)")).to_have_value("85.0")

        # The service's refusal (a string keeps no boundaries): on the form, which stays open.
        settings.get_by_label("Type").select_option("string")
        settings.get_by_role("button", name="Save temperature").click()
        settings = page.get_by_role("form", name="Settings of temperature")
        expect(settings.get_by_role("alert")).to_be_visible()
        expect(settings.get_by_label("Type")).to_have_value("string")  # what was typed, kept
        assert ProfileProperty.objects.get(profile=profile, name="temperature").type == "number"

        settings.get_by_label("Type").select_option("number")
        settings.get_by_label("Access").select_option("public")
        settings.get_by_label("Maximum (optional)").fill("60")
        settings.get_by_label("Retention in seconds (optional)").fill("3600")
        settings.get_by_role("button", name="Save temperature").click()
        page.wait_for_url(f"**/console/profiles/{profile.id}/#property-settings")
        summary = page.locator("#property-settings summary", has_text="temperature")
        expect(summary).to_contain_text("public")
        expect(summary).to_contain_text("max 60.0")
        expect(summary).to_contain_text("kept 3600 s")
        declared = ProfileProperty.objects.get(profile=profile, name="temperature")
        assert (declared.access, declared.max, declared.retention) == ("public", 60, 3600)
        inherited = Property.objects.get(plug=plug, name="temperature")
        assert (inherited.inherited_from_id, inherited.access, inherited.max) == (declared.id, "public", 60)
        assert not errors, errors
    finally:
        page.close()
