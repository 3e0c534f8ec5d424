"""MQTT over WebSocket (`/mqtt`, subprotocol `mqtt`) with a real client against `manage.py serve`."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from commands.mqtt.protocol import packets
from data.models import DataPoint, JournalEntry
from devices.models import Plug
from tests.commands.mqtt.clients import Device, connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_websocket_transport(server: Any, thing: Any) -> None:
    device = connect_device(server, thing, transport="websockets")
    try:
        assert device.connack == [0]
        info = device.client.publish(
            f"csipio/data/out/devices/{thing.plug.id}/properties/humidity", "40", qos=1
        )
        info.wait_for_publish(timeout=10)
        assert DataPoint.objects.get(of=thing.plug.id, channel="humidity").data == 40
        assert JournalEntry.objects.get(channel="humidity").source == "mqtt-ws"
    finally:
        device.stop()


def test_websocket_refusal_arrives_before_the_close(server: Any, thing: Any) -> None:
    device = Device(server, thing.plug.id, thing.key.id, "wrong-secret", transport="websockets")
    try:
        assert wait_for(lambda: device.connack) in ([4], [134])
    finally:
        device.client.loop_stop()


def test_silent_websocket_connection_is_closed_after_its_keepalive(server: Any, thing: Any) -> None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=thing.plug.id, protocol=mqtt.MQTTv311, transport="websockets"
    )
    client.ws_set_options(path="/mqtt")
    client.username_pw_set(thing.key.id, thing.auth)
    client.connect("127.0.0.1", server.http_port, keepalive=1)
    client.loop_start()
    assert wait_for(lambda: Plug.objects.get(id=thing.plug.id).connected)
    client.loop_stop()  # no more PINGREQ: the connection falls silent
    assert wait_for(lambda: not Plug.objects.get(id=thing.plug.id).connected, timeout=15)
    client.socket().close()


def test_frames_small_and_large_arrive_intact(server: Any, thing: Any) -> None:
    # paho sends each packet in one frame. Frames below 512 bytes are unmasked by
    # `plugboard.websocket_masking`, the others by autobahn's own masker: frames of 511 and 512
    # bytes, and far from the line on both sides, all arrive whole.
    device = connect_device(server, thing, transport="websockets")

    def topic(size: int) -> str:
        return f"csipio/data/out/devices/{thing.plug.id}/properties/text{size}"

    def value(size: int) -> str:
        return "".join(chr(0x41 + (i * 7 + size) % 26) for i in range(size))

    def frame_bytes(size: int) -> int:
        return len(packets.encode(packets.Publish(topic(size), f'"{value(size)}"'.encode(), 1, packet_id=1)))

    on_the_line = [next(s for s in range(1, 600) if frame_bytes(s) == n) for n in (511, 512)]
    try:
        for size in [1, *on_the_line, 3_000]:
            info = device.client.publish(topic(size), f'"{value(size)}"', qos=1)
            info.wait_for_publish(timeout=10)
            assert DataPoint.objects.get(of=thing.plug.id, channel=f"text{size}").data == value(size)
    finally:
        device.stop()
