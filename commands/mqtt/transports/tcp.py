"""MQTT over TCP and TLS: an asyncio server that only moves bytes (SPEC §7)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl

from commands.mqtt.endpoint import MqttEndpoint
from commands.mqtt.transports.hub import Hub, hub
from commands.mqtt.transports.keepalive import keepalive_watchdog
from plugboard.ratelimits import is_trusted_proxy

log = logging.getLogger(__name__)

READ_SIZE = 65_536
PROXY_V1_MAX = 107  # the longest PROXY protocol v1 line, CRLF included


def proxy_v1(data: bytes) -> tuple[str | None, bytes] | None:
    """A PROXY protocol v1 line at the start of `data` (HAProxy's `send-proxy`): (the client's
    address, or None for `PROXY UNKNOWN`; the bytes after the line), or None until the line is
    whole. Raises ValueError for a line that is not one."""
    end = data.find(b"\r\n", 0, PROXY_V1_MAX)
    if end < 0:
        if len(data) >= PROXY_V1_MAX:
            raise ValueError("PROXY line too long")
        return None
    words = data[:end].decode("ascii").split(" ")
    if words[0] != "PROXY" or len(words) < 2:
        raise ValueError("not a PROXY line")
    if words[1] == "UNKNOWN":
        return None, data[end + 2 :]
    if words[1] not in ("TCP4", "TCP6") or len(words) != 6:
        raise ValueError("malformed PROXY line")
    ipaddress.ip_address(words[2])  # ValueError when it is not an address
    return words[2], data[end + 2 :]


class TcpLink:
    def __init__(self, writer: asyncio.StreamWriter, hub: Hub) -> None:
        self.writer = writer
        self.hub = hub
        self.endpoint: MqttEndpoint | None = None

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def join(self, group: str) -> None:
        assert self.endpoint is not None
        await self.hub.join(group, self.endpoint)

    async def leave(self, group: str) -> None:
        assert self.endpoint is not None
        await self.hub.leave(group, self.endpoint)


async def _serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str) -> None:
    link = TcpLink(writer, hub())
    peername = writer.get_extra_info("peername")
    endpoint = MqttEndpoint(link, source, peer=str(peername[0]) if peername else "unknown")
    link.endpoint = endpoint
    conn = endpoint.conn

    async def expire() -> None:
        # Silent past its limit: nothing is owed to it, so drop the socket at once (a close
        # would wait for a client that reads nothing either); the read below then sees EOF.
        writer.transport.abort()

    watchdog = asyncio.get_running_loop().create_task(keepalive_watchdog(endpoint, expire))
    # Behind a trusted load balancer, a PROXY line may come first: it names the client, whose
    # address the failure budgets then count (no MQTT packet starts with "P").
    pending = b""
    expect_proxy = is_trusted_proxy(endpoint.peer)
    try:
        while not conn.should_close and not writer.is_closing():
            data = await reader.read(READ_SIZE)
            if not data:
                break
            if expect_proxy:
                pending += data
                if not b"PROXY".startswith(pending[:5]):
                    expect_proxy, data, pending = False, pending, b""
                else:
                    try:
                        found = proxy_v1(pending)
                    except (ValueError, UnicodeDecodeError):
                        break
                    if found is None:
                        continue
                    client, data = found
                    endpoint.peer = client or endpoint.peer
                    expect_proxy, pending = False, b""
                    if not data:
                        continue
            await endpoint.received(data)
            if writer.transport.get_write_buffer_size() > 1_048_576:
                # A client that does not read its messages: wait, but not forever.
                await asyncio.wait_for(writer.drain(), timeout=30)
    except (ConnectionError, TimeoutError, ssl.SSLError):
        pass
    except Exception:
        log.exception("mqtt connection failed", extra={"client": endpoint.client_id})
    finally:
        watchdog.cancel()
        try:
            await endpoint.lost()
        finally:
            link.close()


async def mqtt_tcp_serve(sock: socket.socket, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    """Serve MQTT on a listening socket (`serve` binds it, and shares it between workers); the
    server runs on the current event loop until closed."""
    source = "mqtt-tcp"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_client(reader, writer, source)

    return await asyncio.start_server(handle, sock=sock, ssl=ssl_context, limit=READ_SIZE)
