"""MQTT over TCP and TLS: an asyncio server that only moves bytes (SPEC §7)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from commands.mqtt.endpoint import MqttEndpoint
from commands.mqtt.transports.hub import Hub, hub
from commands.mqtt.transports.keepalive import keepalive_watchdog

log = logging.getLogger(__name__)

READ_SIZE = 65_536


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
    try:
        while not conn.should_close and not writer.is_closing():
            data = await reader.read(READ_SIZE)
            if not data:
                break
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
