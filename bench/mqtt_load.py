"""A lean MQTT 3.1.1 load client (raw asyncio, TCP or WebSocket).

paho-mqtt costs too much CPU per message to load a server on the same 2 cores. This client
encodes with the project's codec (`commands.mqtt.protocol.packets`), parses only what it
needs (CONNACK, SUBACK, PUBACK, PUBLISH headers) and writes everything a read made possible in
one `transport.write`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import Callable

from testbed import ROOT

if str(ROOT) not in sys.path:  # the project's modules (the MQTT codec) for the load generators
    sys.path.insert(0, str(ROOT))


class MqttLoadClient(asyncio.Protocol):
    """One MQTT connection that keeps `window` QoS 1 publishes in flight until `total` are acked.

    `next_message(n)` gives the (topic, payload) of this connection's n-th message. Over
    WebSocket the client speaks RFC 6455 itself: the upgrade, then one masked binary frame per
    MQTT packet (as browser and device libraries do); its mask key is zero, which RFC 6455
    allows and which saves this process the XOR (the server unmasks either way).
    """

    def __init__(
        self,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 60,
        websocket_path: str | None = None,
        host_header: str = "127.0.0.1",
    ) -> None:
        from commands.mqtt.protocol.packets import encode_connect

        self.connect_packet = encode_connect(
            client_id,
            clean_session=True,
            keepalive=keepalive,
            username=username,
            password=password.encode() if password is not None else None,
        )
        self.ws_path = websocket_path
        self.host_header = host_header
        self.ws_open = websocket_path is None
        self.loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[int] = self.loop.create_future()
        self.subscribed: asyncio.Future[None] = self.loop.create_future()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ws_buffer = bytearray()
        self.next_message: Callable[[int], tuple[str, bytes]] | None = None
        self.total = 0
        self.window = 0
        self.sent = 0
        self.acked = 0
        self.received_publishes = 0
        self.packet_id = 0
        self.stop_sending = False

    # -- transport --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.ws_path is None:
            transport.write(self.connect_packet)
        else:
            key = base64.b64encode(os.urandom(16)).decode()
            transport.write(
                (
                    f"GET {self.ws_path} HTTP/1.1\r\nHost: {self.host_header}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Protocol: mqtt\r\n\r\n"
                ).encode()
            )

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.connected, self.subscribed, self.finished):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost ({exc})"))
                future.exception()  # retrieved: a future nobody awaits must not log at exit
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, packets: list[bytes]) -> None:
        assert self.transport is not None
        if self.ws_path is None:
            self.transport.write(b"".join(packets))
        else:
            self.transport.write(b"".join(_ws_frame(p) for p in packets))

    # -- bytes in --

    def data_received(self, data: bytes) -> None:
        if not self.ws_open:
            self.ws_buffer += data
            end = self.ws_buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.ws_buffer[:end])
            rest = bytes(self.ws_buffer[end + 4 :])
            self.ws_buffer.clear()
            if not head.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(ConnectionError(f"WebSocket upgrade refused: {head[:80]!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.ws_open = True
            self.send([self.connect_packet])
            if not rest:
                return
            data = rest
        if self.ws_path is not None:
            data = self._unframe(data)
            if not data:
                return
        self.buffer += data
        self._parse()

    def _unframe(self, data: bytes) -> bytes:
        buf = self.ws_buffer
        buf += data
        out = bytearray()
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if b1 & 0x80:
                head += 4  # a masked server frame is a protocol error; tolerate it for counting
            if len(buf) - pos < head + length:
                break
            opcode = b0 & 0x0F
            payload = bytes(buf[pos + head : pos + head + length])
            if opcode in (0x0, 0x2):
                out += payload
            elif opcode == 0x9 and self.transport is not None:  # ping → pong
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()
            pos += head + length
        del buf[:pos]
        return bytes(out)

    def _parse(self) -> None:
        buf = self.buffer
        pos = 0
        acked = 0
        end = len(buf)
        while end - pos >= 2:
            first = buf[pos]
            # remaining length: 1..4 bytes, 7 bits each
            length = 0
            shift = 0
            i = pos + 1
            while True:
                if i >= end:
                    length = -1
                    break
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
            if length < 0 or end - i < length:
                break
            kind = first >> 4
            if kind == 4:  # PUBACK
                acked += 1
            elif kind == 3:  # PUBLISH (a subscriber)
                self.received_publishes += 1
                if (first >> 1) & 3:  # QoS 1: acknowledge it
                    topic_len = int.from_bytes(buf[i : i + 2], "big")
                    packet_id = bytes(buf[i + 2 + topic_len : i + 4 + topic_len])
                    self.send([b"\x40\x02" + packet_id])
            elif kind == 2:  # CONNACK
                if not self.connected.done():
                    self.connected.set_result(buf[i + 1])
            elif kind == 9 and not self.subscribed.done():  # SUBACK
                self.subscribed.set_result(None)
            pos = i + length
        del buf[:pos]
        if acked:
            self.acked += acked
            self._top_up()

    # -- bytes out --

    def start(self, total: int, window: int, next_message: Callable[[int], tuple[str, bytes]]) -> None:
        self.total, self.window, self.next_message = total, window, next_message
        self._top_up()

    def _top_up(self) -> None:
        from commands.mqtt.protocol.packets import encode_publish

        if self.next_message is None:
            return
        limit = self.acked + self.window
        if self.stop_sending:
            limit = self.sent
        packets = []
        while self.sent < self.total and self.sent < limit:
            topic, payload = self.next_message(self.sent)
            self.packet_id = self.packet_id % 65535 + 1
            packets.append(encode_publish(topic, payload, 1, packet_id=self.packet_id))
            self.sent += 1
        if packets:
            self.send(packets)
        done = self.acked >= self.sent and (self.sent >= self.total or self.stop_sending)
        if done and not self.finished.done():
            self.finished.set_result(None)

    def stop(self) -> None:
        """Send no more; `finished` resolves once what is in flight is acknowledged."""
        self.stop_sending = True
        self._top_up()

    def subscribe(self, topic_filter: str, qos: int) -> None:
        from commands.mqtt.protocol.packets import encode_subscribe

        self.send([encode_subscribe(1, [(topic_filter, qos)])])

    def disconnect(self) -> None:
        from commands.mqtt.protocol.packets import encode_disconnect

        if self.transport is not None and not self.transport.is_closing():
            self.send([encode_disconnect()])
            self.transport.close()


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x82, 0x80 | n))
    elif n < 65536:
        head = bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def mqtt_open(
    port: int,
    *,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    keepalive: int = 60,
    websocket_path: str | None = None,
    wait: float = 30,
) -> MqttLoadClient:
    """Connect and wait for an accepting CONNACK (raises on refusal)."""
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: MqttLoadClient(
                client_id=client_id,
                username=username,
                password=password,
                keepalive=keepalive,
                websocket_path=websocket_path,
                host_header=f"127.0.0.1:{port}",
            ),
            "127.0.0.1",
            port,
        ),
        wait,
    )
    code = await asyncio.wait_for(client.connected, wait)
    if code != 0:
        client.disconnect()
        raise ConnectionError(f"CONNACK {code:#04x} for {client_id}")
    return client
