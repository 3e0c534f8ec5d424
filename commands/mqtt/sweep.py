"""The command sweep: pending commands whose live push was lost reach their devices anyway.

A command is pushed to its plug's connections through the channel layer once it commits
(`commands.services.commands_create`); while Redis is down that push goes nowhere, and the
command waits, `pending`. Each event loop that serves MQTT connections runs one sweep: every
COMMAND_SWEEP_SECONDS it asks, in one query, for the pending commands older than a grace of the
plugs whose connections subscribed to their commands, and hands each connection its own. The
connection skips a command it already delivered, so a push and the sweep never send one twice on
one connection (across connections, QoS 1 allows a repeat). Idle when no device subscribes.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from commands import services as command_services

log = logging.getLogger(__name__)

GRACE_MS = 2_000  # a command younger than this is left to its live push


class Taker(Protocol):
    """What the sweep needs of a connection that takes commands (`CommandDelivery`)."""

    @property
    def ended(self) -> bool: ...

    def command_plugs(self) -> list[str]: ...

    async def deliver_stalled(self, plug_id: str, commands: list[dict[str, Any]]) -> int: ...


class CommandSweep:
    def __init__(self) -> None:
        self.takers: weakref.WeakSet[Taker] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None

    def watch(self, taker: Taker) -> None:
        """Sweep for `taker` from now on (until it ends)."""
        self.takers.add(taker)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        every = max(1, int(settings.PLUGBOARD["COMMAND_SWEEP_SECONDS"]))
        while self.takers:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down, say: the next sweep tries again
                log.exception("command sweep failed")

    async def sweep(self) -> int:
        """One pass: deliver what is stalled; the number of commands handed out."""
        by_plug: dict[str, list[Taker]] = {}
        for taker in list(self.takers):
            if taker.ended:
                self.takers.discard(taker)
                continue
            for plug_id in taker.command_plugs():
                by_plug.setdefault(plug_id, []).append(taker)
        if not by_plug:
            return 0
        stalled = await database_sync_to_async(command_services.commands_stalled)(
            plug_ids=list(by_plug), older_than_ms=GRACE_MS
        )
        handed = 0
        for plug_id, commands in stalled.items():
            for taker in by_plug.get(plug_id, ()):
                if not taker.ended:
                    handed += await taker.deliver_stalled(plug_id, commands)
        return handed


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CommandSweep] = weakref.WeakKeyDictionary()


def command_sweep() -> CommandSweep:
    loop = asyncio.get_running_loop()
    if loop not in _sweeps:
        _sweeps[loop] = CommandSweep()
    return _sweeps[loop]
