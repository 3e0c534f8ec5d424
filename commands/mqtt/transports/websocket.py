"""MQTT over WebSocket: a Channels consumer at /mqtt (subprotocol `mqtt`, binary frames).

A packet may span frames and a frame may hold several packets: the sans-I/O core reassembles.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from commands.mqtt.endpoint import MqttEndpoint
from commands.mqtt.transports.keepalive import keepalive_watchdog
from plugboard.ratelimits import address_behind

log = logging.getLogger(__name__)


class WebSocketLink:
    def __init__(self, consumer: MqttWebSocketConsumer) -> None:
        self.consumer = consumer
        self.loop = asyncio.get_running_loop()
        self.pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        # Packets written in one pass of the event loop (say, the PUBACKs of a group commit)
        # leave in one binary frame: a frame may hold several packets.
        if not self.pending:
            self.loop.call_soon(self._send)
        self.pending.append(data)

    def _send(self) -> None:
        if not self.pending:
            return  # already sent by close()
        data = b"".join(self.pending)
        self.pending.clear()
        # Tasks start in creation order, so frames leave in the order they were written.
        self.loop.create_task(self.consumer.send(bytes_data=data))

    def close(self) -> None:
        self._send()  # what was written goes before the close frame
        self.loop.create_task(self.consumer.close())

    async def join(self, group: str) -> None:
        await self.consumer.channel_layer.group_add(group, self.consumer.channel_name)

    async def leave(self, group: str) -> None:
        await self.consumer.channel_layer.group_discard(group, self.consumer.channel_name)


class MqttWebSocketConsumer(AsyncWebsocketConsumer):
    endpoint: MqttEndpoint | None = None
    watchdog: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if "mqtt" not in self.scope.get("subprotocols", []):
            await self.close()
            return
        await self.accept(subprotocol="mqtt")
        client = self.scope.get("client") or ["unknown"]
        forwarded = dict(self.scope.get("headers") or []).get(b"x-forwarded-for")
        peer = address_behind(str(client[0]), forwarded.decode("latin-1") if forwarded else None)
        self.endpoint = MqttEndpoint(WebSocketLink(self), "mqtt-ws", peer=peer)
        self.watchdog = asyncio.get_running_loop().create_task(keepalive_watchdog(self.endpoint, self.close))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels waits on the client and the channel layer together with `asyncio.wait`, a new
        # task per message. Here each source has one loop of its own, and frames already queued
        # are dispatched without a pass of the event loop each. Group messages may interleave
        # with a frame's handling, as they do for TCP connections (`commands.mqtt.transports.hub`).
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        from_layer: asyncio.Task[None] | None = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            from_layer = asyncio.get_running_loop().create_task(self._layer_messages())
        try:
            while True:
                message = await receive()
                # A binary frame of a connected client (nearly every message) goes straight to
                # the endpoint, without Channels' handler lookup and two coroutines per frame.
                data = message.get("bytes")
                if data is not None and self.endpoint is not None and message["type"] == "websocket.receive":
                    await self.endpoint.received(data)
                else:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            if from_layer is not None:
                from_layer.cancel()

    async def _layer_messages(self) -> None:
        assert self.channel_layer is not None
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except Exception:  # the layer is down: the connection goes on without group messages
                log.exception("channel layer receive failed")
                await asyncio.sleep(0.5)
                continue
            try:
                await self.dispatch(message)
            except Exception:
                log.exception("delivery to an MQTT connection failed")

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first closes stale database connections, through a thread, for
        # every message: a thread hop per WebSocket frame. This consumer never uses the
        # database from its own thread (the endpoint goes through `database_sync_to_async`,
        # which does that cleaning itself, and the group commit has its own thread).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.endpoint is None:
            return
        if bytes_data is None:  # MQTT over WebSocket is binary frames only
            await self.close()
            return
        await self.endpoint.received(bytes_data)

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.endpoint is not None:
            await self.endpoint.lost()

    # Group messages (see commands.services and plugboard.live).
    async def commands_push(self, message: dict[str, Any]) -> None:
        if self.endpoint is not None:
            await self.endpoint.group_message(message)

    async def data_points(self, message: dict[str, Any]) -> None:
        if self.endpoint is not None:
            await self.endpoint.group_message(message)

    async def alerts_notifications(self, message: dict[str, Any]) -> None:
        if self.endpoint is not None:
            await self.endpoint.group_message(message)

    async def mqtt_takeover(self, message: dict[str, Any]) -> None:
        if self.endpoint is not None:
            await self.endpoint.group_message(message)

    async def mqtt_revoke(self, message: dict[str, Any]) -> None:
        if self.endpoint is not None:
            await self.endpoint.group_message(message)
