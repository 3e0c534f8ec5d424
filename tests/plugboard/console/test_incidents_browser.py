"""The console's incidents in a real headless Chromium against a real `manage.py serve` (SPEC
§12): a device's alerts on its page, a new incident appearing on the incidents page without a
reload (over the page's socket), the Acknowledge and Clear buttons."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.models import Incident
from tests.alerts.conftest import alert_body
from tests.conftest import Tenant
from tests.support import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_incidents_live_ack_and_clear(console_server: ServerProcess, browser: Any, tenant: Tenant) -> None:
    from playwright.sync_api import expect

    server = console_server
    server.http("GET", "/warm-up", timeout=60)  # loads the URL conf and the views (slow when busy)
    device = tenant.plug("boiler")
    as_device = {"X-Plug-Id": device.plug.id, "X-Plug-Auth": device.auth}
    master = {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}
    assert server.http("POST", f"/v3/data/devices/{device.plug.id}", {"temperature": 20}, as_device)[0] == 200
    status, alert = server.http("POST", "/v3/alerts", alert_body(device.plug.id), master)
    assert status == 201, alert

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.base + "/console/sign-in/")
        page.get_by_label("Email").fill(tenant.email)
        page.get_by_label("Master password").fill(tenant.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/")
        page.get_by_role("link", name="Incidents", exact=True).click()
        page.wait_for_url("**/console/incidents/")
        expect(page.locator("#incidents tbody")).to_contain_text("No incident.")
        expect(page.locator("body")).to_have_attribute("data-live-state", "open")

        # A write opens an incident: its row appears without a reload.
        assert (
            server.http("POST", f"/v3/data/devices/{device.plug.id}", {"temperature": 45}, as_device)[0]
            == 200
        )
        row = page.locator("#incidents tbody tr[data-incident]")
        expect(row).to_have_count(1, timeout=10_000)
        expect(row).to_contain_text("critical")
        expect(row).to_contain_text("too-hot")

        row.get_by_role("button", name="Acknowledge").click()
        page.wait_for_url("**/console/incidents/")
        expect(page.locator("#incidents tbody tr[data-incident] [data-incident-status]")).to_have_text("ack")
        assert Incident.objects.get().status == "ack"

        # The device's page: its alerts and its open incident, cleared with the button.
        page.goto(server.base + f"/console/plugs/{device.plug.id}/")
        expect(page.locator("#plug-alerts")).to_contain_text("too-hot")
        page.locator("#incidents").get_by_role("button", name="Clear").click()
        page.wait_for_url(f"**/console/plugs/{device.plug.id}/")
        expect(page.locator("#incidents tbody")).to_contain_text("No open incident.")
        assert Incident.objects.get().status == "cleared"
        assert not errors, errors
    finally:
        page.close()
