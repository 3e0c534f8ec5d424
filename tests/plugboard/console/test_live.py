"""The console's live socket: authenticated by the session, fed by the after-commit group
messages of the write service and the MQTT layer, refusing anyone else."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from commands.models import Command
from commands.services import commands_mark, plug_connection_changed
from data.services import PointIn, points_write
from devices.models import Property
from plugboard.asgi import application
from plugboard.principals import Principal
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(tenant: Tenant) -> str:
    client = Client()
    response = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
    assert response.status_code == 302
    return client.cookies["sessionid"].value


async def _socket(path: str, cookie: str | None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def test_a_socket_without_a_session_is_refused(tenant: Tenant) -> None:
    plug = await sync_to_async(tenant.plug)("thermostat")
    for path in ("/console/live/", f"/console/live/{plug.plug.id}"):
        communicator, connected = await _socket(path, None)
        assert not connected
        communicator, connected = await _socket(path, "not-a-session")
        assert not connected


async def test_another_accounts_plug_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = await sync_to_async(other_tenant.plug)("theirs")
    cookie = await sync_to_async(_session_cookie)(tenant)
    communicator, connected = await _socket(f"/console/live/{theirs.plug.id}", cookie)
    assert not connected


async def test_points_connection_and_command_state_arrive_live(tenant: Tenant) -> None:
    enrolled = await sync_to_async(tenant.plug)("thermostat")
    plug = enrolled.plug
    own = Principal(account_id=tenant.account.id, kind="plug", credential=plug.id, plug_id=plug.id)
    account = Principal(account_id=tenant.account.id, kind="account", credential=tenant.email)
    cookie = await sync_to_async(_session_cookie)(tenant)
    page, connected = await _socket(f"/console/live/{plug.id}", cookie)
    assert connected
    listing, connected = await _socket("/console/live/", cookie)
    assert connected

    write: Any = sync_to_async(points_write)
    await write(principal=own, points=[PointIn(channel="setpoint", data=20.5, of=plug.id)], source="http")
    message = await page.receive_json_from(timeout=5)
    assert message["kind"] == "points"
    assert [(r["channel"], r["data"], r["of"]) for r in message["records"]] == [("setpoint", 20.5, plug.id)]

    await sync_to_async(plug_connection_changed)(
        plug_id=plug.id,
        account_id=tenant.account.id,
        connected=True,
        transport="mqtt-tcp",
        credential=plug.id,
    )
    for socket in (page, listing):
        message = await socket.receive_json_from(timeout=5)
        if message["kind"] == "points":  # the listing hears the account's points too
            message = await socket.receive_json_from(timeout=5)
        assert message["kind"] == "connection"
        assert (message["plug"], message["connected"], message["transport"]) == (plug.id, True, "mqtt-tcp")

    await sync_to_async(Property.objects.filter(plug=plug, name="setpoint").update)(access="public")
    await write(
        principal=account,
        points=[PointIn(channel="setpoint", data=22, of=plug.id)],
        source="console",
        property_write=True,
    )
    seen: dict[str, Any] = {}
    while "commands" not in seen:
        message = await page.receive_json_from(timeout=5)
        seen[message["kind"]] = message
    command = seen["commands"]["commands"][0]
    assert (command["property"], command["value"], command["state"]) == ("setpoint", 22, "pending")
    await sync_to_async(commands_mark)(ids=[command["id"]], state="acked")
    while True:  # the command's own data point may still be on its way
        message = await page.receive_json_from(timeout=5)
        if message["kind"] == "commands":
            break
    assert message["commands"] == [
        {**{k: command[k] for k in ("id", "plug", "property", "value")}, "state": "acked"}
    ]
    await page.disconnect()
    await listing.disconnect()


async def test_device_log_lines_arrive_live(tenant: Tenant, other_tenant: Tenant) -> None:
    from devices.device_log import device_log

    enrolled = await sync_to_async(tenant.plug)("thermostat", status="debug")
    quiet = await sync_to_async(tenant.plug)("quiet")  # status ok: nothing is logged for it
    theirs = await sync_to_async(other_tenant.plug)("theirs", status="debug")
    plug = enrolled.plug
    own = Principal(account_id=tenant.account.id, kind="plug", credential=plug.id, plug_id=plug.id)
    cookie = await sync_to_async(_session_cookie)(tenant)
    page, connected = await _socket(f"/console/live/{plug.id}", cookie)
    assert connected
    other_page, connected = await _socket(f"/console/live/{quiet.plug.id}", cookie)
    assert connected

    # Another account's plug, and a plug not in debug, log nothing this page could hear.
    await sync_to_async(device_log)(plug_id=theirs.plug.id, source="mqtt-tcp", code="BadTopic", message="x")
    await sync_to_async(device_log)(plug_id=quiet.plug.id, source="mqtt-tcp", code="BadTopic", message="x")
    # A rejection of the write service (a bad channel), then a protocol error of the MQTT layer.
    write: Any = sync_to_async(points_write)
    rejected = await write(principal=own, points=[PointIn(channel="a/#", data=1, of=plug.id)], source="http")
    assert not rejected[0].ok
    message = await page.receive_json_from(timeout=5)
    assert message["kind"] == "log"
    [entry] = message["entries"]
    assert (entry["plug"], entry["source"], entry["code"]) == (plug.id, "http", rejected[0].code)
    assert entry["property"] == "a/#" and isinstance(entry["id"], int) and entry["at"] > 0
    await sync_to_async(device_log)(
        plug_id=plug.id, source="mqtt-tcp", code="BadPayload", message="<script>x</script>", prop="t"
    )
    message = await page.receive_json_from(timeout=5)
    assert message["kind"] == "log"
    assert [(e["code"], e["message"], e["property"]) for e in message["entries"]] == [
        ("BadPayload", "<script>x</script>", "t")
    ]
    assert await other_page.receive_nothing(timeout=0.3)
    await page.disconnect()
    await other_page.disconnect()


async def test_a_plug_page_hears_the_commands_state_as_its_socket_opens(tenant: Tenant) -> None:
    """A device acks in milliseconds, often before the page that sent the command has opened its
    socket: the page gets the state of its commands when it does, not only later changes."""
    enrolled = await sync_to_async(tenant.plug)("thermostat")
    plug = enrolled.plug
    own = Principal(account_id=tenant.account.id, kind="plug", credential=plug.id, plug_id=plug.id)
    account = Principal(account_id=tenant.account.id, kind="account", credential=tenant.email)
    write: Any = sync_to_async(points_write)
    await write(principal=own, points=[PointIn(channel="setpoint", data=20, of=plug.id)], source="http")
    await sync_to_async(Property.objects.filter(plug=plug, name="setpoint").update)(access="public")
    await write(
        principal=account,
        points=[PointIn(channel="setpoint", data=22, of=plug.id)],
        source="console",
        property_write=True,
    )
    command = await sync_to_async(Command.objects.get)(plug=plug)
    await sync_to_async(commands_mark)(ids=[command.id], state="acked")  # before the page listens

    cookie = await sync_to_async(_session_cookie)(tenant)
    page, connected = await _socket(f"/console/live/{plug.id}", cookie)
    assert connected
    message = await page.receive_json_from(timeout=5)
    assert message == {
        "kind": "commands",
        "commands": [
            {"id": command.id, "plug": plug.id, "property": "setpoint", "value": 22, "state": "acked"}
        ],
    }
    listing, connected = await _socket("/console/live/", cookie)  # an account-wide page: no snapshot
    assert connected and await listing.receive_nothing(timeout=0.3)
    await page.disconnect()
    await listing.disconnect()
