"""Connection state on both dialects' device objects, from a real MQTT client (paho) connected
over TCP and over WebSocket to `manage.py serve` (SPEC §3: `connected`, `last_seen`, transport)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.commands.mqtt.clients import connect_device
from tests.conftest import Tenant
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("transport", "name"), [("tcp", "mqtt-tcp"), ("websockets", "mqtt-ws")])
def test_both_dialects_show_the_transport_while_connected(
    server: Any, tenant: Tenant, thing: Any, transport: str, name: str
) -> None:
    headers = {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}

    def both() -> tuple[Any, Any]:
        v3 = server.http("GET", f"/v3/devices/{thing.plug.id}", headers=headers)
        channel = server.http("GET", f"/iot/device/{thing.plug.id}", headers=headers)
        assert v3[0] == 200 and channel[0] == 200, (v3, channel)
        return v3[1], channel[1]

    v3, channel = both()
    assert (v3["connected"], v3["transport"], channel["transport"]) == (False, None, None)
    device = connect_device(server, thing, transport=transport)
    try:
        assert device.connack == [0]
        assert wait_for(lambda: both()[0]["connected"])
        v3, channel = both()
        assert v3["transport"] == name and channel["transport"] == name
        assert v3["lastSeen"] is not None and channel["connected"] is True and channel["last_seen"]
    finally:
        device.stop()
    assert wait_for(lambda: not both()[0]["connected"])
    v3, channel = both()
    assert v3["transport"] is None and channel["transport"] is None and v3["lastSeen"] is not None
