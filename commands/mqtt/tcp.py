"""MQTT over TCP and TLS: an asyncio server that only moves bytes (SPEC §7)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from commands.mqtt.endpoint import MqttEndpoint
from commands.mqtt.hub import Hub, hub

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds a new socket may stay silent before its CONNECT
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
    try:
        while not conn.should_close and not writer.is_closing():
            # Before CONNECT a short limit; after it 1.5 × the client's keep-alive (none if 0).
            limit = conn.keepalive_limit if conn.accepted else CONNECT_TIMEOUT
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout=limit)
            except TimeoutError:
                log.info("mqtt keep-alive expired", extra={"client": endpoint.client_id})
                break
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
