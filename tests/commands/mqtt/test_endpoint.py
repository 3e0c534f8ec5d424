"""SPEC §7 edge cases against the live server: versions, limits, takeover, keep-alive, live data."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from commands.mqtt.protocol.packets import encode_connect, encode_publish, encode_subscribe
from data.models import DataPoint
from devices.models import DeviceLogEntry, Plug
from tests.commands.mqtt.clients import Device, connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _raw_connect(server: Any, thing: Any, *, level: int = 4, keepalive: int = 25) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=5)
    sock.sendall(
        encode_connect(
            client_id=thing.plug.id,
            username=thing.key.id,
            password=thing.auth.encode(),
            keepalive=keepalive,
            protocol_level=level,
        )
    )
    return sock


def _read_closed(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_protocol_level_other_than_4_gets_connack_1(server: Any, thing: Any) -> None:
    with _raw_connect(server, thing, level=5) as sock:
        assert _read_closed(sock) == b"\x20\x02\x00\x01"


def test_oversized_packet_closes_and_is_logged_in_debug(server: Any, thing: Any) -> None:
    Plug.objects.filter(id=thing.plug.id).update(status="debug")
    with _raw_connect(server, thing) as sock:
        sock.settimeout(5)
        assert sock.recv(4) == b"\x20\x02\x00\x00"
        topic = f"csipio/data/out/devices/{thing.plug.id}/properties/big"
        sock.sendall(encode_publish(topic, b"1" * (300 * 1024), qos=1, packet_id=1))
        assert _read_closed(sock) == b""
    assert wait_for(lambda: DeviceLogEntry.objects.filter(plug=thing.plug, code="ProtocolError").exists())
    assert not DataPoint.objects.filter(channel="big").exists()


def test_same_client_id_twice_closes_the_older(server: Any, thing: Any) -> None:
    first = connect_device(server, thing)
    second = connect_device(server, thing)
    try:
        assert first.disconnected.wait(10)
        assert not second.disconnected.is_set()
    finally:
        first.client.loop_stop()
        second.stop()


def test_silent_connection_is_closed_after_one_and_a_half_keepalive(server: Any, thing: Any) -> None:
    with _raw_connect(server, thing, keepalive=1) as sock:
        sock.settimeout(5)
        assert sock.recv(4) == b"\x20\x02\x00\x00"
        started = time.monotonic()
        assert _read_closed(sock, timeout=10) == b""
        assert time.monotonic() - started >= 1.4


def test_live_records_reach_a_subscriber_of_a_channel_mask(server: Any, tenant: Any, thing: Any) -> None:
    listener = tenant.plug("listener", perm={"of": {"r": None, "w": []}})
    sub = connect_device(server, listener)
    pub = connect_device(server, thing)
    try:
        sub.client.subscribe("+/data/home/#", qos=1)
        assert wait_for(lambda: sub.subacks) == [[1]]
        pub.client.publish(f"{thing.plug.id}/data/home/kitchen/temp", json.dumps({"data": 22}), qos=1)
        assert wait_for(lambda: sub.messages)
        message = sub.messages[0]
        assert message.topic == f"{thing.plug.id}/data/home/kitchen/temp"
        record = json.loads(message.payload)
        assert (
            record["data"] == 22
            and record["of"] == thing.plug.id
            and record["channel"] == "home/kitchen/temp"
        )
        assert len(record["id"]) == 24
    finally:
        sub.stop()
        pub.stop()


def test_live_records_respect_read_permission(server: Any, tenant: Any, thing: Any) -> None:
    nosy = tenant.plug("nosy")  # default perm: reads only its own data
    sub = connect_device(server, nosy)
    pub = connect_device(server, thing)
    try:
        sub.client.subscribe("+/data/#", qos=0)
        sub.client.subscribe(f"{thing.plug.id}/data/#", qos=0)
        assert wait_for(lambda: len(sub.subacks) == 2)
        assert sub.subacks[1] == [0x80]
        info = pub.client.publish(f"{thing.plug.id}/data/secret", json.dumps({"data": 1}), qos=1)
        info.wait_for_publish(timeout=10)
        time.sleep(0.5)  # give a wrong delivery the chance to arrive (not a timing assertion)
        assert sub.messages == []
    finally:
        sub.stop()
        pub.stop()


def test_subscribe_before_connect_closes(server: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=5) as sock:
        sock.sendall(encode_subscribe(1, [("a/b", 0)]))
        assert _read_closed(sock) == b""


def test_other_account_cannot_connect_as_my_plug(server: Any, thing: Any, other_tenant: Any) -> None:
    stranger = other_tenant.plug("stranger")
    device = Device(server, thing.plug.id, stranger.key.id, stranger.auth)
    try:
        assert wait_for(lambda: device.connack) in ([5], [135])  # paho 2 reports 5 as 135
    finally:
        device.client.loop_stop()


def test_connect_publish_disconnect_in_one_chunk_stores_the_publish(server: Any, thing: Any) -> None:
    from commands.mqtt.protocol.packets import encode_disconnect

    topic = f"csipio/data/out/devices/{thing.plug.id}/properties/burst"
    chunk = (
        encode_connect(
            client_id=thing.plug.id, username=thing.key.id, password=thing.auth.encode(), keepalive=25
        )
        + encode_publish(topic, b"7", qos=1, packet_id=1)
        + encode_disconnect()
    )
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=5) as sock:
        sock.sendall(chunk)
        _read_closed(sock)
    assert wait_for(lambda: DataPoint.objects.filter(channel="burst").exists())
    assert DataPoint.objects.get(channel="burst").data == 7


def _connected_raw(server: Any, thing: Any) -> socket.socket:
    sock = _raw_connect(server, thing)
    sock.settimeout(5)
    assert sock.recv(4) == b"\x20\x02\x00\x00"
    return sock


HOSTILE = {
    "second CONNECT": lambda t: encode_connect(
        client_id=t.plug.id, username=t.key.id, password=t.auth.encode()
    ),
    "remaining length over 4 bytes": lambda t: b"\x30\xff\xff\xff\xff\x01",
    "invalid UTF-8 topic": lambda t: b"\x30\x07\x00\x03\xff\xfe\xfd\x31\x32",
    "wildcard in PUBLISH topic": lambda t: b"\x30\x08\x00\x05a/+/b1",
    "QoS 3": lambda t: b"\x36\x07\x00\x03a/b\x00\x01",
    "truncated then garbage": lambda t: b"\x30\x10\x00\x03a/b" + b"\xff" * 3 + b"\x00" * 9 + b"\xe0\x05",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_packet_closes_that_connection_only(server: Any, tenant: Any, thing: Any, case: str) -> None:
    bystander = tenant.plug("bystander")
    healthy = connect_device(server, bystander)
    try:
        with _connected_raw(server, thing) as sock:
            sock.sendall(HOSTILE[case](thing))
            assert _read_closed(sock) == b""
        info = healthy.client.publish(
            f"csipio/data/out/devices/{bystander.plug.id}/properties/ok", "1", qos=1
        )
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        healthy.stop()


def test_truncated_connect_then_eof_is_harmless(server: Any, thing: Any) -> None:
    packet = encode_connect(client_id=thing.plug.id, username=thing.key.id, password=thing.auth.encode())
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=5) as sock:
        sock.sendall(packet[: len(packet) // 2])
    healthy = connect_device(server, thing)
    try:
        assert healthy.connack == [0]
    finally:
        healthy.stop()


def test_flood_of_zero_keepalive_connections_leaves_the_server_serving(server: Any, tenant: Any) -> None:
    plugs = [tenant.plug(f"idle-{i}") for i in range(50)]
    socks = []
    try:
        for enrolled in plugs:
            socks.append(_raw_connect(server, enrolled, keepalive=0))
        for sock in socks:
            assert sock.recv(4) == b"\x20\x02\x00\x00"
        status, body = server.http("GET", "/healthz")
        assert status == 200 and body["status"] == "ok"
    finally:
        for sock in socks:
            sock.close()


def test_repeated_bad_connects_are_rate_limited(server: Any, thing: Any) -> None:
    # The server's limit is PLUGBOARD_AUTH_FAILURES_PER_MINUTE (20) wrong secrets per (username,
    # address); this test connects from 127.0.0.2 so the other tests' address keeps its budget.
    def attempt(password: bytes) -> int | None:
        address = ("127.0.0.1", server.mqtt_port)
        with socket.create_connection(address, timeout=5, source_address=("127.0.0.2", 0)) as sock:
            sock.sendall(encode_connect(client_id=thing.plug.id, username=thing.key.id, password=password))
            answer = _read_closed(sock)
        return answer[-1] if answer else None

    codes = [attempt(b"wrong") for _ in range(22)]
    assert codes[:20] == [4] * 20
    assert codes[20:] == [5, 5]
    # …and the right secret is still accepted: a key's secret cannot be guessed.
    with socket.create_connection(
        ("127.0.0.1", server.mqtt_port), timeout=5, source_address=("127.0.0.2", 0)
    ) as sock:
        sock.sendall(
            encode_connect(client_id=thing.plug.id, username=thing.key.id, password=thing.auth.encode())
        )
        assert sock.recv(4) == b"\x20\x02\x00\x00"


def test_a_client_id_longer_than_any_name_is_refused_with_connack_5(server: Any, thing: Any) -> None:
    # SQLite used to fail the name look-up ("LIKE pattern too complex") and drop the connection.
    packet = encode_connect(client_id="c" * 60_000, username=thing.key.id, password=thing.auth.encode())
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=5) as sock:
        sock.sendall(packet)
        assert _read_closed(sock) == b"\x20\x02\x00\x05"


@pytest.mark.parametrize(
    "payload",
    [
        b'"a\\u0000b"',
        b'"\\udcff"',
        b"\xed\xa0\x80",
        b"1e400",
        b"[" * 5000 + b"]" * 5000,
        b'{"k": ' * 70 + b"1" + b"}" * 70,
    ],
)
def test_unstorable_payloads_are_refused_and_the_connection_lives_on(
    server: Any, thing: Any, payload: bytes
) -> None:
    topic = f"csipio/data/out/devices/{thing.plug.id}/properties/hostile"
    with _connected_raw(server, thing) as sock:
        sock.sendall(encode_publish(topic, payload, qos=1, packet_id=1))
        assert sock.recv(4) == b"\x40\x02\x00\x01"  # received, refused per point, not a crash
        sock.sendall(encode_publish(topic, b"5", qos=1, packet_id=2))
        assert sock.recv(4) == b"\x40\x02\x00\x02"
    assert wait_for(lambda: DataPoint.objects.filter(channel="hostile").exists())
    assert list(DataPoint.objects.filter(channel="hostile").values_list("data", flat=True)) == [5]
