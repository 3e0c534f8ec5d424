"""The command sweep: pending commands whose live push was lost reach their devices anyway.

A command is pushed to its plug's connections through the channel layer once it commits
(`commands.services.commands_create`); while Redis is down that push goes nowhere, and the
command waits, `pending`. Each event loop that serves MQTT connections runs one sweep: every
COMMAND_SWEEP_SECONDS it asks, in one query, for the pending commands older than a grace of the
plugs whose connections subscribed to their commands, and hands each connection its own. The
endpoint skips a command it already delivered, so a push and the sweep never send one twice on
one connection (across connections, QoS 1 allows a repeat). Idle when no device subscribes.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from commands import services as command_services

if TYPE_CHECKING:
    from commands.mqtt.endpoint import MqttEndpoint

log = logging.getLogger(__name__)

GRACE_MS = 2_000  # a command younger than this is left to its live push


class CommandSweep:
    def __init__(self) -> None:
        self.endpoints: weakref.WeakSet[MqttEndpoint] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None

    def watch(self, endpoint: MqttEndpoint) -> None:
        """Sweep for `endpoint` from now on (until it ends)."""
        self.endpoints.add(endpoint)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        every = max(1, int(settings.PLUGBOARD["COMMAND_SWEEP_SECONDS"]))
        while self.endpoints:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down, say: the next sweep tries again
                log.exception("command sweep failed")

    async def sweep(self) -> int:
        """One pass: deliver what is stalled; the number of commands handed out."""
        by_plug: dict[str, list[MqttEndpoint]] = {}
        for endpoint in list(self.endpoints):
            if endpoint.ended:
                self.endpoints.discard(endpoint)
                continue
            for plug_id in endpoint.command_plugs():
                by_plug.setdefault(plug_id, []).append(endpoint)
        if not by_plug:
            return 0
        stalled = await database_sync_to_async(command_services.commands_stalled)(
            plug_ids=list(by_plug), older_than_ms=GRACE_MS
        )
        handed = 0
        for plug_id, commands in stalled.items():
            for endpoint in by_plug.get(plug_id, ()):
                if not endpoint.ended:
                    handed += await endpoint.deliver_stalled(plug_id, commands)
        return handed


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CommandSweep] = weakref.WeakKeyDictionary()


def command_sweep() -> CommandSweep:
    loop = asyncio.get_running_loop()
    if loop not in _sweeps:
        _sweeps[loop] = CommandSweep()
    return _sweeps[loop]
