"""Commands sent to a device's MQTT connection, and their state written back in batches.

A command reaches a connection three ways: the live push of its plug's group, the stored
commands sent on SUBSCRIBE (or a resumed session), and the command sweep (`sweep.py`) when the
push was lost. A command is sent once per connection whichever way comes first; its `sent` and
`acked` marks are queued and written in the background, several at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from commands import services as command_services
from commands.models import Command
from commands.mqtt.protocol.topics import DEVICE_PREFIXES, command_topic
from commands.mqtt.session import Session
from commands.mqtt.subscriptions import Subscriptions
from commands.mqtt.sweep import command_sweep
from commands.mqtt.wire import Wire

log = logging.getLogger(__name__)

DELIVERED_KEPT = 1_024  # command ids a connection remembers having sent
MARK_ORDER: dict[str, int] = {Command.State.SENT: 0, Command.State.ACKED: 1}  # write order
MARK_GATHER_SECONDS = 0.005


class CommandDelivery:
    """What the sweep sees of a connection (`sweep.Taker`)."""

    def __init__(self, wire: Wire, session: Session, subscriptions: Subscriptions) -> None:
        self.wire = wire
        self.session = session
        self.subscriptions = subscriptions
        self.inflight: dict[int, str] = {}  # packet id → command id, until its PUBACK
        # Commands sent on this connection (the newest DELIVERED_KEPT): a live push and the
        # command sweep never send one twice on one connection.
        self.delivered: dict[str, None] = {}
        self.marks = CommandMarks(session)

    @property
    def ended(self) -> bool:
        return self.wire.ended

    def _plugs(self) -> list[str]:
        """The connection's plug, and a gateway key's plugs."""
        principal = self.session.principal
        assert self.session.plug_id is not None
        return list(dict.fromkeys([self.session.plug_id, *(principal.plug_ids if principal else ())]))

    # --- the three ways in -------------------------------------------------------------------

    async def push(self, message: dict[str, Any]) -> None:
        """The live push of a plug's group."""
        plug_id = message.get("plug") or self.session.plug_id
        await self.deliver([{**c, "plug": plug_id} for c in message["commands"]])

    async def deliver_stored(self, *, retained: bool = True) -> None:
        """The plug's pending commands (and, with `retained`, the latest of each property as a
        retained message): after a SUBSCRIBE to commands, or when a session resumes."""
        if not self.session.plug_id:
            return
        for plug_id in self._plugs():
            pending, latest = await database_sync_to_async(command_services.commands_for_subscriber)(
                plug_id=plug_id
            )
            if retained:
                await self.deliver([{**c, "plug": plug_id} for c in latest], retained=True)
            await self.deliver([{**c, "plug": plug_id} for c in pending])

    def watch(self) -> None:
        """Have the sweep look for this connection's stalled commands, once it takes commands."""
        if self.session.plug_id and self.subscriptions.takes_commands():
            command_sweep().watch(self)

    def command_plugs(self) -> list[str]:
        """The plugs whose commands this connection takes (none until it subscribes to them)."""
        if self.wire.ended or not self.session.plug_id or not self.subscriptions.takes_commands():
            return []
        return self._plugs()

    async def deliver_stalled(self, plug_id: str, commands: list[dict[str, Any]]) -> int:
        """Pending commands of `plug_id` the sweep found (their push was lost)."""
        return await self.deliver([{**c, "plug": plug_id} for c in commands])

    # --- sending -----------------------------------------------------------------------------

    async def deliver(self, commands: list[dict[str, Any]], *, retained: bool = False) -> int:
        sent: list[str] = []
        for command in commands:
            if not retained and command["id"] in self.delivered:
                continue  # already sent on this connection (by a push, a subscribe or the sweep)
            topic, qos = self._route(command["plug"], command["property"])
            if qos is None:
                continue
            packet_id = self.wire.send(topic, command["value"], 0 if retained else qos, retain=retained)
            if packet_id is None:
                continue  # window full: stays pending, delivered on the next subscribe
            if not retained:
                sent.append(command["id"])
                self.delivered[command["id"]] = None
                if packet_id:
                    self.inflight[packet_id] = command["id"]
        while len(self.delivered) > DELIVERED_KEPT:
            del self.delivered[next(iter(self.delivered))]
        self.wire.flush()
        if sent:
            self.marks.add(sent, Command.State.SENT)
        return len(sent)

    def acked(self, packet_id: int) -> None:
        """A PUBACK: the command sent with that packet id is acked."""
        command_id = self.inflight.pop(packet_id, None)
        if command_id:
            self.marks.add([command_id], Command.State.ACKED)

    def _route(self, plug_id: str, prop: str) -> tuple[str, int | None]:
        """A command goes out once, on the first prefix the client subscribed to it with."""
        for prefix in DEVICE_PREFIXES:
            topic = command_topic(plug_id, prop, prefix)
            if (qos := self.subscriptions.granted(topic)) is not None:
                return topic, qos
        return "", None


class CommandMarks:
    """State changes of commands, queued and written in the background, in order.

    Delivery never waits for the database: the TCP hub and a WebSocket's layer loop hand out one
    group message after another, and a push that waited for its `sent` update (a thread hop and
    a round trip) let the next ones queue up behind it under load, past the channel layer's
    capacity. What has queued meanwhile is written in one go."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.queued: list[tuple[str, list[str]]] = []
        self.writing: asyncio.Task[None] | None = None

    def add(self, ids: list[str], state: str) -> None:
        self.queued.append((state, ids))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        # A moment for the PUBACK of what was just sent: a device on a fast link acks within it,
        # and the two marks become one write.
        await asyncio.sleep(MARK_GATHER_SECONDS)
        # The commands are of this connection's account (its plug, or a gateway's plugs).
        principal = self.session.principal
        account_id = principal.account_id if principal else None
        while self.queued:
            queued, self.queued = self.queued, []
            by_state: dict[str, list[str]] = {}
            for state, ids in queued:
                by_state.setdefault(state, []).extend(ids)
            # A command acked in the same batch is written once, as acked (which also stamps
            # `sent_at`): one UPDATE per delivered command instead of two.
            acked = set(by_state.get(Command.State.ACKED, ()))
            if acked and Command.State.SENT in by_state:
                by_state[Command.State.SENT] = [i for i in by_state[Command.State.SENT] if i not in acked]
            # A command is sent before it is acked: all `sent` first, then all `acked`.
            changes = sorted(
                ((state, ids) for state, ids in by_state.items() if ids),
                key=lambda change: MARK_ORDER.get(change[0], 0),
            )
            try:
                await database_sync_to_async(_mark_all)(changes, account_id)
            except Exception:  # the commands stay as they were: the sweep or a resend moves them on
                log.exception("command state not written", extra={"client": self.session.client_id})


def _mark_all(changes: list[tuple[str, list[str]]], account_id: str | None) -> None:
    """Queued command state changes, in order, through one thread hop."""
    for state, ids in changes:
        command_services.commands_mark(ids=ids, state=state, account_id=account_id)
