"""A real MQTT client (paho-mqtt) that records what it gets, for the tests against `manage.py serve`."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import wait_for


class Device:
    """A paho client that records what it gets."""

    def __init__(
        self,
        server: Any,
        client_id: str,
        username: str,
        password: str,
        *,
        clean: bool = True,
        transport: str = "tcp",
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.connack: list[int] = []
        self.session_present: list[bool] = []
        self.subacks: list[list[int]] = []
        self.disconnected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=mqtt.MQTTv311,
            transport=transport,
        )
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._connected
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append([r.value for r in rcs])
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        port = server.http_port if transport == "websockets" else server.mqtt_port
        self.client.connect("127.0.0.1", port, keepalive=25)
        self.client.loop_start()

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.session_present.append(bool(flags.session_present))
        self.connack.append(reason.value)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect_device(server: Any, enrolled: Any, **kw: Any) -> Device:
    device = Device(server, enrolled.plug.id, enrolled.key.id, enrolled.auth, **kw)
    assert wait_for(lambda: device.connack), "no CONNACK"
    return device
