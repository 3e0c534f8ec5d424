"""One channel-layer channel per process for every raw-TCP MQTT connection in it.

WebSocket consumers each get a channel from Channels; thousands of TCP connections should not
each hold a channel and a receive loop. The hub holds one channel, joins each group once, and
hands every group message (which names its `group`) to the local endpoints that joined it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Any, Protocol

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


class Member(Protocol):
    """What the hub hands group messages to (an endpoint)."""

    async def group_message(self, message: dict[str, Any]) -> None: ...


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.members: dict[str, set[Member]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(self, group: str, endpoint: Member) -> None:
        if self.layer is None:
            return
        async with self._lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="mqtt-tcp")
                self._task = asyncio.get_running_loop().create_task(self._receive())
            if not self.members[group]:
                await self.layer.group_add(group, self.channel)
            self.members[group].add(endpoint)

    async def leave(self, group: str, endpoint: Member) -> None:
        if self.layer is None or self.channel is None:
            return
        async with self._lock:
            members = self.members.get(group)
            if members is None:
                return
            members.discard(endpoint)
            if not members:
                del self.members[group]
                await self.layer.group_discard(group, self.channel)

    async def _receive(self) -> None:
        assert self.layer is not None and self.channel is not None
        while True:
            try:
                message: dict[str, Any] = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub receive failed")
                await asyncio.sleep(0.5)
                continue
            for endpoint in list(self.members.get(message.get("group", ""), ())):
                try:
                    await endpoint.group_message(message)
                except Exception:
                    log.exception("delivery to an MQTT connection failed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
