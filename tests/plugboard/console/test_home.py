"""The console's home page: the fleet's numbers, each from one query, the same handful of
queries whatever the fleet's size, live over the page's socket; another account's fleet never
counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert, Incident
from commands.services import plug_connection_changed
from data.services import PointIn, points_write
from devices.models import DeviceLogEntry, Plug, Property
from plugboard.asgi import application
from plugboard.principals import Principal
from tests.conftest import Tenant


def _signed_in(tenant: Tenant) -> Client:
    client = Client()
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 302 and response["Location"] == "/console/"
    return client


def _device(tenant: Tenant, plug: Plug) -> Principal:
    return Principal(account_id=tenant.account.id, kind="plug", credential=plug.id, plug_id=plug.id)


def _fleet(tenant: Tenant, size: int) -> list[Plug]:
    """`size` plugs, every third connected, one seen lately; each writes points, the first
    also a rejection in debug status and a command waiting for it."""
    plugs = [tenant.plug(f"dev-{tenant.account.id[-4:]}-{i}").plug for i in range(size)]
    Plug.objects.filter(id__in=[p.id for p in plugs[::3]]).update(connected=True, last_seen=timezone.now())
    Plug.objects.filter(id=plugs[1].id).update(last_seen=timezone.now() - timedelta(hours=2))
    for i, plug in enumerate(plugs):
        points = [
            PointIn(channel="temperature", data=20 + j, of=plug.id, at=1_000 * j + 1) for j in range(i + 1)
        ]
        assert all(r.ok for r in points_write(principal=_device(tenant, plug), points=points, source="http"))
    first = plugs[0]
    Property.objects.filter(plug=first).update(access=Property.Access.PUBLIC, type=Property.Type.NUMBER)
    account = Principal(account_id=tenant.account.id, kind="account", credential=tenant.email)
    points_write(
        principal=account,
        points=[PointIn(channel="temperature", data=5, of=first.id)],
        source="console",
        property_write=True,
    )
    DeviceLogEntry.objects.create(
        plug=first, source="http", property="temperature", code="BadType", message="not a number"
    )
    # Two open incidents (one acknowledged) and a cleared one, which is not counted.
    alert = Alert.objects.create(account=tenant.account, owner_id=first.id, name="hot", trigger="unwatched")
    for plug, status in zip(plugs, ("active", "ack", "cleared"), strict=False):
        Incident.objects.create(
            account=tenant.account, alert=alert, plug=plug, severity="warning", status=status
        )
    return plugs


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/console/").status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_the_numbers_of_the_fleet(tenant: Tenant, other_tenant: Tenant) -> None:
    plugs = _fleet(tenant, 6)
    _fleet(other_tenant, 4)  # never counted
    page = _signed_in(tenant).get("/console/").content.decode()
    stats = {
        name: page.split(f'data-stat="{name}">', 1)[1].split("<", 1)[0]
        for name in (
            "devices",
            "connected",
            "inactive",
            "points_per_minute",
            "commands_pending",
            "incidents_open",
        )
    }
    # connected: plugs 0 and 3; inactive: never seen nor connected (plug 1 was seen 2 h ago)
    assert stats == {
        "devices": "6",
        "connected": "2",
        "inactive": "3",
        "points_per_minute": str(sum(range(1, 7)) + 1),
        "commands_pending": "1",
        "incidents_open": "2",
    }
    busiest = page.split('id="busiest"', 1)[1].split("</table>", 1)[0]
    assert busiest.index(plugs[5].name) < busiest.index(plugs[4].name)
    assert busiest.count("<tr data-plug=") == 5
    rejections = page.split('id="rejections"', 1)[1].split("</table>", 1)[0]
    assert "BadType" in rejections and plugs[0].name in rejections and "<time datetime=" in rejections


@pytest.mark.django_db
def test_a_fixed_number_of_queries_whatever_the_fleet(
    tenant: Tenant, other_tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    _fleet(tenant, 2)
    small = _queries(_signed_in(tenant))
    _fleet(other_tenant, 30)
    large = _queries(_signed_in(other_tenant))
    assert small == large
    # the session (1), its account (1), the counts (1: plugs, commands and incidents), the last
    # minute's points with the busiest devices and their names (1), the rejections (1)
    client = _signed_in(other_tenant)
    with django_assert_max_num_queries(5):
        client.get("/console/")


def _session_cookie(tenant: Tenant) -> str:
    return _signed_in(tenant).cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
async def test_the_home_socket_sends_the_numbers_and_moves_them(tenant: Tenant) -> None:
    enrolled = await sync_to_async(tenant.plug)("thermostat")
    cookie = await sync_to_async(_session_cookie)(tenant)
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver"),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]
    home = WebsocketCommunicator(application, "/console/live/home", headers=headers)
    connected, _ = await home.connect(timeout=5)
    assert connected
    first = await home.receive_json_from(timeout=5)
    assert first["kind"] == "home" and first["devices"] == 1 and first["connected"] == 0
    await sync_to_async(plug_connection_changed)(
        plug_id=enrolled.plug.id,
        account_id=tenant.account.id,
        connected=True,
        transport="mqtt-tcp",
        credential=enrolled.plug.id,
    )
    write: Any = sync_to_async(points_write)
    await write(
        principal=_device(tenant, enrolled.plug),
        points=[PointIn(channel="t", data=1, of=enrolled.plug.id)],
        source="http",
    )
    # The connection change asks for the numbers again within HOME_SOONEST (+ the read).
    seen: dict[str, Any] = {}
    for _ in range(10):
        message = await home.receive_json_from(timeout=10)
        if message["kind"] == "home":
            seen = message
            if seen["connected"] == 1 and seen["points_per_minute"] == 1:
                break
    assert seen["connected"] == 1 and seen["points_per_minute"] == 1
    assert seen["busiest"] == [{"plug": enrolled.plug.id, "name": "thermostat", "points": 1}]
    await home.disconnect()
