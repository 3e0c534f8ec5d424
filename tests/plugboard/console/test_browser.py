"""End to end in a real headless Chromium (Debian's, driven by Playwright) against a real
`manage.py serve`, with a real MQTT device (paho-mqtt over TCP): the console sees the device
connect, its values arrive on the chart and in the latest values without a reload, a command's
state moves to `acked` when the device acknowledges, a type-breaking value lands in the device
log in debug status, and a regenerated key refuses the old secret. A screenshot of every page,
at desktop and phone widths, goes to var/test-artifacts/console/, and the plug page's top to
docs/console.png (the README's picture)."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.contrib.auth.models import User
from paho.mqtt.enums import CallbackAPIVersion

from devices.models import Plug, Property
from devices.services.plugs import Enrolled
from tests.conftest import Tenant
from tests.support import ROOT, ServerProcess, wait_for

ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"
README_SHOT = ROOT / "docs" / "console.png"

pytestmark = pytest.mark.django_db(transaction=True)


class Device:
    """A paho device on the plug's credentials, subscribed (QoS 1) to its commands."""

    def __init__(self, server: ServerProcess, enrolled: Enrolled) -> None:
        self.plug_id = enrolled.plug.id
        self.commands: list[tuple[str, Any]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.plug_id, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(enrolled.key.id, enrolled.auth)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            f"csipio/data/in/devices/{self.plug_id}/properties/#", qos=1
        )
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.commands.append(
            (m.topic.rsplit("/", 1)[1], json.loads(m.payload))
        )
        self.client.connect("127.0.0.1", server.mqtt_port, keepalive=25)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"

    def publish(self, prop: str, value: Any) -> None:
        info = self.client.publish(
            f"csipio/data/out/devices/{self.plug_id}/properties/{prop}", json.dumps(value), qos=1
        )
        info.wait_for_publish(timeout=10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _http_status(server: ServerProcess, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(server.base + path, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


TIME_SHOWN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _kolkata(iso: str) -> str:
    """An ISO UTC instant as the console shows it to a reader in Kolkata."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(hours=5, minutes=30)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


UNLABELLED = """() => {
  const named = (el) => (el.labels && el.labels.length) || el.getAttribute("aria-label") ||
    el.getAttribute("aria-labelledby") || el.getAttribute("title");
  const fields = [...document.querySelectorAll("input:not([type=hidden]), select, textarea")];
  const buttons = [...document.querySelectorAll("button, a[href]")];
  return fields.filter((el) => !named(el)).map((el) => el.outerHTML)
    .concat(buttons.filter((el) => !el.textContent.trim() && !named(el)).map((el) => el.outerHTML));
}"""


def _all_labelled(page: Any) -> None:
    """Every field has a label (or an aria name), every button and link a name."""
    missing = page.evaluate(UNLABELLED)
    assert not missing, missing


def _axis_span(page: Any) -> int:
    """The chart's x axis, ms (console.js writes the scale's ends on the chart's box)."""
    box = page.locator("#chart")
    return int(box.get_attribute("data-x-max") or 0) - int(box.get_attribute("data-x-min") or 0)


def _cells(row: Any) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def _shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_console_in_a_real_browser(console_server: ServerProcess, browser: Any, tenant: Tenant) -> None:
    from playwright.sync_api import expect

    enrolled = tenant.plug("thermostat", hwid="SN-1")
    plug = enrolled.plug
    server = console_server
    # A zone far from UTC: the times a person reads are local, their datetime attributes UTC.
    page = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    device: Device | None = None
    try:
        page.goto(server.base + "/")  # the landing page leads to the console
        _shoot(page, "landing")
        page.get_by_role("link", name="Sign in to the console").click()
        _shoot(page, "sign-in")
        _all_labelled(page)
        # Keyboard only: the skip link first, then the form's fields in order, Enter submits.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "id_email"
        page.keyboard.type(tenant.email)
        page.keyboard.press("Tab")
        page.keyboard.type(tenant.password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/")
        _all_labelled(page)
        stat = page.locator("[data-stat]")
        expect(page.locator('[data-stat="devices"]')).to_have_text("1")
        expect(page.locator('[data-stat="connected"]')).to_have_text("0")
        expect(page.locator("body")).to_have_attribute("data-live-state", "open")

        device = Device(server, enrolled)  # the home page's numbers move without a reload
        expect(page.locator('[data-stat="connected"]')).to_have_text("1", timeout=10_000)
        device.publish("temperature", 19.0)
        expect(page.locator('[data-stat="points_per_minute"]')).to_have_text("1", timeout=10_000)
        expect(page.locator("#busiest tbody tr").first).to_contain_text("thermostat")
        assert stat.count() == 6
        _shoot(page, "home")

        page.get_by_role("link", name="Plugs").click()
        page.wait_for_url("**/console/plugs/")
        row = page.locator(f'tr[data-plug="{plug.id}"]')
        expect(row.locator("[data-connection]")).to_contain_text("connected")
        expect(row.locator("[data-connection]")).to_contain_text("mqtt-tcp")
        _shoot(page, "plugs")

        device.publish("temperature", 20.0)
        device.publish("setpoint", 18)
        assert wait_for(lambda: Property.objects.filter(plug=plug).count() == 2)
        # Local time where a person reads it (Kolkata: UTC+05:30), the UTC instant beside it.
        seen = row.locator("[data-last-seen] time")
        expect(seen).to_have_text(TIME_SHOWN)
        instant = seen.get_attribute("datetime") or ""
        assert ISO_UTC.fullmatch(instant), instant
        assert seen.inner_text() == _kolkata(instant)
        Property.objects.filter(plug=plug, name="setpoint").update(access=Property.Access.PUBLIC)
        page.get_by_role("link", name="thermostat").click()
        page.wait_for_url(f"**/console/plugs/{plug.id}/")
        page.locator("#chart-property").select_option("temperature")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**chart=temperature**")
        expect(page.locator("body")).to_have_attribute("data-live-state", "open")
        expect(page.locator("#chart")).to_have_attribute("data-points", "2")
        # The axis is the chosen window (an hour), not the few seconds the points span.
        assert abs(_axis_span(page) - 3_600_000) < 2_000, _axis_span(page)

        device.publish("temperature", 23.5)  # appears without a reload
        latest = page.locator('#latest tr[data-property="temperature"] [data-value]')
        expect(latest).to_have_text("23.5")
        device.publish("temperature", 26.0)
        expect(latest).to_have_text("26")
        live_row = _cells(page.locator("#journal tbody tr").first)
        assert live_row[1:] == ["data", "mqtt-tcp", "temperature", "26"], live_row
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-live-state", "open")
        reloaded = _cells(page.locator("#journal tbody tr").first)
        assert reloaded[1:] == live_row[1:], (live_row, reloaded)  # the same row, live or not
        for when in page.locator("main time").all():
            assert TIME_SHOWN.fullmatch(when.inner_text()), when.inner_text()
            assert when.inner_text() == _kolkata(when.get_attribute("datetime") or "")
        expect(page.locator("#chart")).to_have_attribute("data-points", "4")
        # Several properties on one chart, over the same window.
        page.get_by_role("group", name="Also draw").get_by_label("setpoint").check()
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**also=setpoint**")
        expect(page.locator("#chart")).to_have_attribute("data-series", "2")
        expect(page.locator("#chart")).to_have_attribute("data-points", "5")
        expect(page.locator("#chart-note")).to_contain_text("5 points")
        assert abs(_axis_span(page) - 3_600_000) < 2_000
        # The README's picture of the console: this page's top, regenerated by every run.
        page.screenshot(
            path=str(README_SHOT), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1180}
        )

        # Only the properties that take a command are offered (temperature is protected).
        assert page.locator("#id_property option").all_inner_texts() == ["setpoint"]
        _all_labelled(page)
        page.locator("#id_property").select_option(label="setpoint")
        page.get_by_label("Value (JSON)").fill("{not json")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("alert").filter(has_text="not JSON")).to_be_visible()
        page.get_by_label("Value (JSON)").fill("21")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url(f"**/console/plugs/{plug.id}/")
        state = page.locator("#commands tbody tr").first.locator("[data-state]")
        expect(state).to_have_text("acked", timeout=10_000)
        assert ("setpoint", 21) in device.commands
        _shoot(page, "plug")

        page.get_by_role("button", name="Debug on").click()
        expect(page.get_by_role("button", name="Debug off")).to_be_visible()
        Property.objects.filter(plug=plug, name="temperature").update(type=Property.Type.NUMBER)
        device.publish("temperature", "hot")
        assert wait_for(lambda: plug.log.exists())
        # The rejection's log line arrives live (no reload), as text.
        expect(page.locator("#device-log tbody tr").first).to_contain_text("temperature")
        page.reload()
        expect(page.locator("#device-log tbody tr").first).to_contain_text("temperature")
        # A custom range on the chart: labelled inputs, the range shown.
        page.get_by_label("From (UTC)").fill("2020-01-01T00:00")
        page.get_by_label("To (UTC)").fill("2020-01-02T00:00")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**start=2020-01-01T00%3A00**")
        expect(page.locator("#chart-note")).to_contain_text("0 points")
        assert page.locator("#chart").get_attribute("data-x-min") == "1577836800000"
        assert _axis_span(page) == 86_400_000
        page.get_by_label("From (UTC)").fill("")
        page.get_by_label("To (UTC)").fill("")
        page.get_by_label("Window").select_option("day")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**window=day**")
        assert abs(_axis_span(page) - 86_400_000) < 2_000, _axis_span(page)

        old = {"X-Plug-Id": plug.id, "X-Plug-Auth": enrolled.auth}
        assert _http_status(server, "/iot/data/temperature", old) == 200
        page.get_by_role("button", name="Regenerate key").click()
        secret = page.locator("[data-secret]").inner_text()
        assert len(secret) == 32 and secret != enrolled.auth
        assert _http_status(server, "/iot/data/temperature", old) == 401
        assert _http_status(server, "/iot/data/temperature", {**old, "X-Plug-Auth": secret}) == 200
        _shoot(page, "plug-new-key")

        page.goto(server.base + "/console/channels/?mask=%23")
        expect(page.locator("#records")).to_contain_text("temperature")
        mask = page.get_by_label("Channel mask (+ one level, # the rest)").bounding_box()
        assert mask is not None and mask["height"] < 60, mask  # one line, not a 200 px box
        _all_labelled(page)
        _shoot(page, "channels")
        page.goto(server.base + "/console/keys/")
        # The API client's fields only for an API client key; chosen with the keyboard.
        scopes = page.locator("#apiclient-fields")
        expect(page.get_by_label("Kind")).to_have_value("user")
        expect(scopes).to_be_hidden()
        page.get_by_label("Kind").focus()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_label("Kind")).to_have_value("apiclient")
        expect(scopes).to_be_visible()
        expect(page.get_by_label("device:read-data")).to_be_visible()
        _all_labelled(page)
        _shoot(page, "keys")
        page.get_by_label("Kind").select_option("user")
        expect(scopes).to_be_hidden()
        # An API client made here, then edited on its page (the secret stays; only what is named
        # changes), with the keyboard-reachable labelled form.
        page.get_by_label("Kind").select_option("apiclient")
        page.get_by_label("Name (optional)").fill("wall-screen")
        page.get_by_label("device:read-data").check()
        page.get_by_role("button", name="Create key").click()
        made = page.locator("[data-secret]").inner_text()
        assert len(made) == 32
        client_row = page.locator("#keys tr", has_text="wall-screen")
        client_row.get_by_role("link", name="Edit").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("API client")
        _all_labelled(page)
        page.get_by_label("Rate limit (requests a minute; 0: none)").fill("600")
        page.get_by_label("device:read", exact=True).check()
        page.get_by_role("button", name="Save").click()
        edited = page.locator("#keys tr", has_text="wall-screen")
        expect(edited).to_contain_text("device:read, device:read-data")

        # The fleet pages: reachable from the navigation, every control labelled.
        for name in ("Profiles", "Apps", "Users", "Sub-accounts"):
            page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text(
                name.replace("Profiles", "Device profiles")
            )
            _all_labelled(page)
            _shoot(page, name.lower())

        phone = browser.new_page(viewport={"width": 375, "height": 800})
        phone.context.add_cookies(page.context.cookies())
        for name, path in [
            ("landing", "/"),
            ("home", "/console/"),
            ("plugs", "/console/plugs/"),
            ("plug", f"/console/plugs/{plug.id}/"),
            ("channels", "/console/channels/"),
            ("keys", "/console/keys/"),
            ("profiles", "/console/profiles/"),
            ("users", "/console/users/"),
            ("subaccounts", "/console/subaccounts/"),
        ]:
            phone.goto(server.base + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} scrolls sideways at 375 px ({width} px)"
            _shoot(phone, f"{name}-375px")
        phone.close()

        # A staff user signed in to the admin opens the console without signing in again.
        User.objects.create_user("operator", password="staff-pw-1", is_staff=True)
        staff = browser.new_page(viewport={"width": 1280, "height": 900})
        staff.goto(server.base + "/admin/login/?next=/admin/")
        staff.get_by_label("Username").fill("operator")
        staff.get_by_label("Password").fill("staff-pw-1")
        staff.get_by_role("button", name="Log in").click()
        staff.wait_for_url("**/admin/")
        staff.goto(server.base + "/console/")
        staff.wait_for_url("**/console/accounts/**")
        staff.get_by_role("button", name=f"Open {tenant.email}").click()
        staff.wait_for_url("**/console/")
        expect(staff.locator('[data-stat="devices"]')).to_have_text("1")
        staff.close()
        assert not errors, errors
    finally:
        print(f"\nconsole screenshots: {ARTIFACTS}")
        if device is not None:
            device.stop()
            # Let the server record the disconnect before the tables are flushed.
            wait_for(lambda: not Plug.objects.filter(id=plug.id, connected=True).exists(), timeout=10)
        page.close()
