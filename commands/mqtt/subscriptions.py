"""What an MQTT client subscribed to, whether it may, and the live records it is sent.

A filter is authorized into the channel-layer group it needs (one per plug for commands, one
per account for live records and mirrors); the groups are joined through the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async

from commands.mqtt.mirror import Mirror
from commands.mqtt.protocol.connection import SubscribeRequested, UnsubscribeRequested
from commands.mqtt.protocol.packets import SUBACK_FAILURE
from commands.mqtt.protocol.topics import (
    Family,
    channel_topic,
    is_commands_filter,
    parse_subscription,
    topic_matches,
)
from commands.mqtt.session import Session
from commands.mqtt.wire import Wire
from devices import access
from devices.access import Mode, Reach, reach
from plugboard.live import LISTENING_SECONDS, account_group, alerts_group, mark_listening, plug_group


class Subscriptions:
    def __init__(self, wire: Wire, session: Session) -> None:
        self.wire = wire
        self.session = session
        self.filters: dict[str, int] = {}  # topic filter → granted QoS
        self.read_reach: Reach | None = None
        self.mirror: Mirror | None = None  # the mirror filters granted, once it asks for one
        self.listening: asyncio.Task[None] | None = None

    def granted(self, topic: str) -> int | None:
        """The QoS a message on `topic` goes out at, or None when no filter matches it."""
        best = None
        for topic_filter, qos in self.filters.items():
            if topic_matches(topic_filter, topic):
                best = qos if best is None else max(best, qos)
        return best

    def takes_commands(self) -> bool:
        return any(is_commands_filter(f) for f in self.filters)

    # --- SUBSCRIBE, UNSUBSCRIBE, a resumed session -------------------------------------------

    async def subscribe(self, event: SubscribeRequested) -> None:
        assert self.session.principal is not None
        self.read_reach = await database_sync_to_async(reach)(self.session.principal, Mode.READ)
        await self.session.learn_filters(f for f, _ in event.subscriptions)
        await self._learn_mirrors(f for f, _ in event.subscriptions)
        codes = []
        for topic_filter, qos in event.subscriptions:
            if self.authorize(topic_filter) is None:
                codes.append(SUBACK_FAILURE)
                await self.session.log_violation(f"subscription to {topic_filter} refused")
                continue
            granted = min(qos, 1)
            self.filters[topic_filter] = granted
            codes.append(granted)
        self.wire.conn.suback(event.packet_id, codes)
        self.wire.flush()
        await self._join_groups()
        await self.session.save(self.filters)

    async def unsubscribe(self, event: UnsubscribeRequested) -> None:
        for topic_filter in event.filters:
            self.filters.pop(topic_filter, None)
        await self.session.save(self.filters)
        self.wire.conn.unsuback(event.packet_id)

    async def resume(self, kept: dict[str, int]) -> None:
        """The filters a persistent session kept, those still allowed."""
        assert self.session.principal is not None
        await self.session.learn_filters(kept)
        self.read_reach = await database_sync_to_async(reach)(self.session.principal, Mode.READ)
        await self._learn_mirrors(kept)
        for topic_filter, qos in kept.items():
            if self.authorize(topic_filter) is not None:
                self.filters[topic_filter] = qos
        await self._join_groups()

    # --- authorization -----------------------------------------------------------------------

    def authorize(self, topic_filter: str) -> str | None:
        """The group a filter needs, or None when the client may not subscribe to it."""
        principal = self.session.principal
        assert principal is not None
        wanted = parse_subscription(topic_filter)
        if wanted is None:
            return None
        if wanted.family is Family.PROVISIONS:
            # Answers are sent on this connection: no group to join ("").
            if not access.mqtt_may_provision(principal, wanted.client_id, self.session.client_id):
                return None
            return ""
        if wanted.family is Family.COMMANDS:
            if wanted.plug_id is None or not access.mqtt_may_subscribe_commands(principal, wanted.plug_id):
                return None
            return plug_group(wanted.plug_id)
        if wanted.family is Family.MIRROR:
            # Mirrors are the account's records seen through other topics: the same group.
            if self.mirror is None or topic_filter not in self.mirror.granted:
                return None
            if wanted.mirror is not None and wanted.mirror.alerts:
                return alerts_group(principal.account_id)
            return account_group(principal.account_id)
        if wanted.plug_id is not None and not self._may_read(
            wanted.plug_id, self.session.plug_accounts.get(wanted.plug_id)
        ):
            return None
        return account_group(principal.account_id)

    def _may_read(self, of: str, plug_account: str | None) -> bool:
        assert self.session.principal is not None
        return access.mqtt_may_read_records(
            self.session.principal, of, plug_account, self.read_reach or access.NOWHERE
        )

    async def _learn_mirrors(self, topic_filters: Iterable[str]) -> None:
        """Decide which mirror filters among `topic_filters` the client may subscribe to (none
        asked: nothing to do)."""
        assert self.session.principal is not None
        if self.mirror is None:
            self.mirror = Mirror(self.session.principal, self.session.mirror_form)
        await self.mirror.learn(topic_filters, self.read_reach or access.NOWHERE)

    async def _join_groups(self) -> None:
        session = self.session
        for group in {g for f in self.filters if (g := self.authorize(f))} - session.groups:
            await session.join(group)
        if session.principal is not None and account_group(session.principal.account_id) in session.groups:
            await mark_listening(session.principal.account_id)
            if self.listening is None:
                self.listening = asyncio.get_running_loop().create_task(self._keep_listening())

    async def _keep_listening(self) -> None:
        """Tell writers, while this connection lives, that someone reads the account's records."""
        assert self.session.principal is not None
        while True:
            await asyncio.sleep(LISTENING_SECONDS / 2)
            await mark_listening(self.session.principal.account_id)

    def stop(self) -> None:
        if self.listening is not None:
            self.listening.cancel()

    # --- live records ------------------------------------------------------------------------

    async def deliver_records(self, records: list[dict[str, Any]]) -> None:
        """The account's live records (a broadcast of its group): those subscribed to, on their
        channel topics and through the mirrors granted."""
        principal = self.session.principal
        assert principal is not None
        for record in records:
            topic = channel_topic(record["of"], record["channel"])
            qos = self.granted(topic)
            # Records of the account's group are the account's own (the write service
            # stores none for another account's plugs).
            if qos is not None and self._may_read(record["of"], principal.account_id):
                self.wire.send_granted(topic, record, qos)
        if self.mirror is not None and self.mirror.granted:
            for topic, payload, qos in await self.mirror.messages(records, self.granted):
                self.wire.send_granted(topic, payload, qos)
        self.wire.flush()

    async def deliver_alerts(self, notifications: list[dict[str, Any]]) -> None:
        """The account's alert notifications (a broadcast of its alerts group), through the
        mirrors granted."""
        assert self.mirror is not None
        for topic, payload, qos in await self.mirror.alerts(notifications, self.granted):
            self.wire.send_granted(topic, payload, qos)
        self.wire.flush()
