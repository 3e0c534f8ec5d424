"""What an MQTT connection means to the platform (SPEC §7), whatever carries it.

`MqttEndpoint` drives the sans-I/O `MqttConnection` for one client and translates its events
into the platform's services: CONNECT → credentials, PUBLISH → the one write service (through
the process's group commit), SUBSCRIBE → channel-layer groups (one per plug for commands, one
per account for live records). The two transports — the Channels WebSocket consumer and the
asyncio TCP server — only move bytes and group messages in and out of it.

The endpoint never touches the ORM itself: database work goes through `database_sync_to_async`
helpers or the group commit's writer thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from commands import services as command_services
from commands.models import Command
from commands.mqtt.group_commit import GroupCommit, group_commit
from commands.mqtt.mirror import RAW, Mirror, connect_username
from commands.mqtt.protocol.connection import (
    ConnectRequested,
    DisconnectRequested,
    Event,
    MqttConnection,
    ProtocolViolation,
    PubackReceived,
    PublishReceived,
    SubscribeRequested,
    UnsubscribeRequested,
    Will,
)
from commands.mqtt.protocol.packets import (
    CONNACK_BAD_CREDENTIALS,
    CONNACK_SERVER_UNAVAILABLE,
    SUBACK_FAILURE,
)
from commands.mqtt.protocol.topics import (
    DEVICE_PREFIXES,
    DeviceTopic,
    Family,
    channel_topic,
    command_topic,
    is_commands_filter,
    parse_publish_topic,
    parse_subscription,
    provisioning_answer_topic,
    provisioning_prefix,
    topic_matches,
)
from commands.mqtt.sweep import command_sweep
from data.feeds import BadFeed, feed_points
from data.services import MISSING, PointIn, Submission, device_log
from devices import access
from devices.access import Mode, Reach, reach
from devices.identity import verify_mqtt
from devices.selectors import plug_accounts
from devices.services.provisioning import provision_answer
from plugboard.live import (
    LISTENING_SECONDS,
    Kind,
    account_group,
    alerts_group,
    client_group,
    group_send_async,
    key_group,
    mark_listening,
    plug_group,
)
from plugboard.metrics import MQTT_CONNECTIONS, MQTT_MESSAGES_RECEIVED, MQTT_MESSAGES_SENT, MQTT_TRANSPORTS
from plugboard.parsers import json_loads
from plugboard.principals import Principal
from plugboard.ratelimits import Meter, points_meter, request_meter
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)

DELIVERED_KEPT = 1_024  # command ids a connection remembers having sent
OWN_TOPICS_KEPT = 64  # parsed topics a device's connection remembers
MARK_ORDER: dict[str, int] = {Command.State.SENT: 0, Command.State.ACKED: 1}  # write order
MARK_GATHER_SECONDS = 0.005

# The metrics' children, bound once per transport: a message costs one increment, no label look-up.
_CONNECTED = {t: MQTT_CONNECTIONS.labels(t) for t in MQTT_TRANSPORTS}
_RECEIVED = {t: MQTT_MESSAGES_RECEIVED.labels(t) for t in MQTT_TRANSPORTS}
_SENT = {t: MQTT_MESSAGES_SENT.labels(t) for t in MQTT_TRANSPORTS}


class Link(Protocol):
    """What a transport lends the endpoint."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    async def join(self, group: str) -> None: ...

    async def leave(self, group: str) -> None: ...


class MqttEndpoint:
    def __init__(self, link: Link, source: str, peer: str = "unknown") -> None:
        self.link = link
        self.source = source
        self.connected = _CONNECTED[source]
        self.received_count = _RECEIVED[source]
        self.sent_count = _SENT[source]
        self.peer = peer  # the client's address: failed CONNECTs count against it
        limits = settings.PLUGBOARD
        self.conn = MqttConnection(
            max_packet=limits["MQTT_MAX_PACKET"], max_inflight=limits["MQTT_MAX_INFLIGHT"]
        )
        self.principal: Principal | None = None
        self.plug_id: str | None = None
        self.client_id = ""
        self.token = uuid.uuid4().hex
        self.subscriptions: dict[str, int] = {}
        self.groups: set[str] = set()
        self.read_reach: Reach | None = None
        self.mirror_form = RAW  # how mirror topics carry values (`?format=` in the username)
        self.mirror: Mirror | None = None  # the mirror filters granted, once it asks for one
        # The account of each plug id a topic of this client named (None: no such plug): the
        # rights of a key that acts for an account depend on it, and plugs never change account.
        self.plug_accounts: dict[str, str | None] = {}
        self.inflight_commands: dict[int, str] = {}
        # Commands sent on this connection (the newest DELIVERED_KEPT): a live push and the
        # command sweep never send one twice on one connection.
        self.delivered: dict[str, None] = {}
        self.persistent = False
        self.listening: asyncio.Task[None] | None = None
        self.ended = False
        self.rate = float(limits["MQTT_PUBLISH_RATE"])
        self.tokens = self.rate
        self.refilled = time.monotonic()
        self.commit: GroupCommit | None = None  # the process's, looked up on the first publish
        self.requests: Meter | None = None  # an API key's rateLimit, when it has one
        self.points: Meter | None = None  # the account's points per second
        self.flush_due = False
        # Topics this plug may publish to, as parsed: a device publishes on a few topics, and
        # what its own credentials may do does not change while it is connected.
        self.own_topics: dict[str, DeviceTopic] = {}
        # Command state changes waiting to be written (`_mark_commands`), and who writes them.
        self.marks: list[tuple[str, list[str]]] = []
        self.marking: asyncio.Task[None] | None = None

    # --- bytes in ----------------------------------------------------------------------------

    async def received(self, data: bytes) -> None:
        """Bytes from the client. Events are handled one by one, in order."""
        try:
            events = self.conn.receive(data)
        except ProtocolViolation as violation:  # the core has already marked the close
            await self._log_violation(violation.reason)
            events = []
        publishes = 0
        for event in events:
            try:
                # Most events are a device's publishes with nothing to wait for: handled here,
                # without a coroutine each.
                if type(event) is PublishReceived:
                    publishes += 1
                    if not self._publish_now(event):
                        await self._handle(event)
                else:
                    await self._handle(event)
            except ProtocolViolation as violation:  # a rule of ours: topic, rate
                self.conn.abort(violation.reason)
                await self._log_violation(violation.reason)
            # Not `should_close`: events before a DISCONNECT in the same chunk still count.
            if self.conn.aborted:
                break
        if publishes:  # one increment per chunk read, however many publishes it held
            self.received_count.inc(publishes)
        self._flush()

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.link.write(out)
        if self.conn.should_close and not self.ended:
            self.link.close()

    async def _handle(self, event: Event) -> None:
        if type(event) is PublishReceived:
            await self._publish(event)
        elif isinstance(event, PubackReceived):
            command_id = self.inflight_commands.pop(event.packet_id, None)
            if command_id:
                await self._mark_commands([command_id], Command.State.ACKED)
        elif isinstance(event, ConnectRequested):
            await self._connect(event)
        elif isinstance(event, SubscribeRequested):
            await self._subscribe(event)
        elif isinstance(event, UnsubscribeRequested):
            for topic_filter in event.filters:
                self.subscriptions.pop(topic_filter, None)
            await self._save_session()
            self.conn.unsuback(event.packet_id)
        elif isinstance(event, DisconnectRequested):
            self.conn.will = None

    # --- CONNECT -----------------------------------------------------------------------------

    async def _connect(self, event: ConnectRequested) -> None:
        options = connect_username(event.username)
        if options is None:
            self.conn.refuse(CONNACK_BAD_CREDENTIALS)
            return
        username, self.mirror_form = options
        verdict = await database_sync_to_async(verify_mqtt)(
            event.client_id, username, event.password, peer=self.peer
        )
        if isinstance(verdict, int):
            self.conn.refuse(verdict)
            return
        self.principal, self.plug_id = verdict
        self.client_id = event.client_id
        # The key's rateLimit counts this CONNECT and every PUBLISH (with its HTTP requests);
        # the account's points per second count every point published.
        if self.principal.rate_limit > 0:
            self.requests = request_meter(self.principal)
            if await self.requests.take():
                self.conn.refuse(CONNACK_SERVER_UNAVAILABLE)  # retry later
                await self._log_violation("request rate limit of this API key exceeded")
                return
        self.points = points_meter(self.principal.account_id)
        # Same client id twice in one account: the older session is closed (here or in another
        # process). Another account's connection with that client id is not in this group.
        group = client_group(self.principal.account_id, event.client_id)
        await group_send_async(Kind.MQTT_TAKEOVER, group, token=self.token)
        await self.link.join(group)
        self.groups.add(group)
        self.persistent = not event.clean_session
        kept = await database_sync_to_async(command_services.mqtt_session_open)(
            account_id=self.principal.account_id,
            client_id=event.client_id,
            plug_id=self.plug_id,
            clean=event.clean_session,
        )
        self.conn.accept(session_present=kept is not None)
        self.connected.inc()
        self._flush()
        if self.plug_id:
            # Commands, and the revocation of these credentials, arrive on the plug's group.
            await self.link.join(plug_group(self.plug_id))
            self.groups.add(plug_group(self.plug_id))
        elif self.principal.key_id:
            # A user or API client key: its revocation (the key removed or regenerated, its user
            # disabled, its account suspended) arrives on the key's group.
            await self.link.join(key_group(self.principal.key_id))
            self.groups.add(key_group(self.principal.key_id))
        if self.plug_id:
            await database_sync_to_async(command_services.plug_connection_changed)(
                plug_id=self.plug_id,
                account_id=self.principal.account_id,
                connected=True,
                transport=self.source,
                credential=self.principal.credential,
            )
        if kept:
            await self._learn_filters(kept)
            self.read_reach = await database_sync_to_async(reach)(self.principal, Mode.READ)
            await self._learn_mirrors(kept)
            for topic_filter, qos in kept.items():
                if self._authorize_filter(topic_filter) is not None:
                    self.subscriptions[topic_filter] = qos
            await self._join_groups()
            # A resumed session gets what it has not received; retained values only go to a
            # new SUBSCRIBE (MQTT 3.1.1 §3.3.1.3), which clients send again after reconnecting.
            await self._deliver_stored_commands(retained=False)
            self._watch_commands()

    # --- PUBLISH -----------------------------------------------------------------------------

    def _within_rate(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def _publish_now(self, event: PublishReceived) -> bool:
        """Handle a publish that needs no wait (a plug publishing as itself, with no key
        rateLimit or account points limit to count); False: `_publish` must."""
        principal = self.principal
        if (
            principal is None
            or not principal.is_plug
            or self.requests is not None
            or (self.points is not None and self.points.limit > 0)
        ):
            return False
        if not self._within_rate():
            raise ProtocolViolation(f"publish rate over {int(self.rate)} messages/s")
        submission = self._submission(event.topic, event.payload)
        if submission is None:
            self.tokens += 1  # `_publish` takes it again and gives the reason
            return False
        self._submit(submission, event)
        return True

    async def _publish(self, event: PublishReceived) -> None:
        if not self._within_rate():
            raise ProtocolViolation(f"publish rate over {int(self.rate)} messages/s")
        if self.requests is not None and await self.requests.take():
            raise ProtocolViolation(
                f"request rate limit of this API key ({self.requests.limit}/min) exceeded"
            )
        if (prefix := provisioning_prefix(event.topic)) is not None:
            await self._provision(event, prefix)
            return
        await self._learn_topic(event.topic)
        submission = self._submission(event.topic, event.payload)
        if submission is None:
            raise ProtocolViolation(f"not allowed to publish to {event.topic}")
        if self.points is not None and self.points.limit > 0:
            await self._slow_down(len(submission.points))
        self._submit(submission, event)

    def _submit(self, submission: Submission, event: PublishReceived) -> None:
        if self.commit is None:
            self.commit = group_commit()
        # Acknowledge only once the point is durably stored (`stored`, in submission order).
        self.commit.submit_for(submission, self.source, self if event.qos else None, event)

    async def _provision(self, event: PublishReceived, prefix: str) -> None:
        """A zero-touch provisioning request (SPEC §7): answered on `{prefix}provisions/{client
        id}` with the device's identity or an error; only a provisioning key may ask."""
        assert self.principal is not None
        if access.provisioning_context(self.principal) is None:
            raise ProtocolViolation(f"not allowed to publish to {event.topic}: no provisioning key")
        try:
            body = json_loads(event.payload)
        except ValueError:
            body = None  # refused by the service like any other malformed request
        answer = await database_sync_to_async(provision_answer)(principal=self.principal, body=body)
        self.conn.ack(event)
        topic = provisioning_answer_topic(self.client_id, prefix)
        qos = self._granted(topic)
        if qos is None:
            log.info("provisioning answer not subscribed to", extra={"client": self.client_id})
        else:
            self._send(topic, answer, qos if self.conn.can_publish_qos1 else 0)
        self._flush()

    async def _slow_down(self, count: int) -> None:
        """Past the account's points per second, wait for the next second before reading on
        (the client's window fills, its publishes wait); past it MQTT_LIMIT_STRIKES seconds
        in a row, close the connection (the device log says why)."""
        assert self.points is not None
        wait = await self.points.take(count)
        if not wait:
            return
        if self.points.over_windows >= int(settings.PLUGBOARD["MQTT_LIMIT_STRIKES"]):
            raise ProtocolViolation(
                f"points per second of the account over its limit of {self.points.limit}"
                f" for {self.points.over_windows + 1} s in a row"
            )
        self._flush()  # the acks owed so far leave before the wait
        await asyncio.sleep(wait)

    def stored(self, event: PublishReceived, ok: bool) -> None:
        """The group commit stored (or failed to store) the point of `event`."""
        if not ok:
            self.conn.abort("point not stored")  # no ack: the client sends it again
        else:
            self.conn.ack(event)
        # A group commit resolves the futures of many publishes at once: their acks leave
        # together, in one write, once this pass of the event loop has run their callbacks.
        if not self.flush_due and not self.ended:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self.flush_due = False
        if not self.ended:
            self._flush()

    def _submission(self, topic: str, payload: bytes) -> Submission | None:
        """The write a topic and payload mean, or None when the topic is not the client's."""
        assert self.principal is not None
        route = self.own_topics.get(topic)
        if route is None:
            route = parse_publish_topic(topic)
            if route is None or not self._may_publish_for(route.plug_id):
                return None
            if self.principal.is_plug:
                if len(self.own_topics) >= OWN_TOPICS_KEPT:
                    self.own_topics.clear()
                self.own_topics[topic] = route
        try:
            value = json_loads(payload) if payload else None
        except ValueError:
            # Not JSON: a point without a value, which the write service rejects (and, in
            # debug status, writes to the device log). MQTT 3.1.1 has no negative ack.
            value = MISSING
        if route.family is Family.PROPERTY:
            points = [PointIn(channel=route.name, data=value, of=route.plug_id)]
            return Submission(self.principal, points, property_write=True, require_zone=True)
        if route.family is Family.FEED:
            try:
                points = feed_points(body=value, device_id=route.plug_id, prop=None, now=now_ms())
            except BadFeed as exc:
                # Not a feed at all: nothing to store; the device log (debug) says why.
                points = [PointIn(channel="json", data=MISSING, of=route.plug_id)]
                log.info("mqtt feed refused", extra={"client": self.client_id, "reason": exc.message})
            return Submission(self.principal, points, property_write=True, require_zone=True)
        record = value if isinstance(value, dict) else {}
        point = PointIn(
            channel=route.name,
            of=route.plug_id,
            data=record.get("data", MISSING),
            at=record.get("at"),
            ttl=record.get("ttl"),
            expire_at=record.get("expire_at"),
        )
        return Submission(self.principal, [point])

    def _may_publish_for(self, plug_id: str) -> bool:
        assert self.principal is not None
        return access.mqtt_may_publish_to_device(self.principal, plug_id, self.plug_accounts.get(plug_id))

    async def _learn_accounts(self, plug_ids: list[str]) -> None:
        """Look up, once per connection, the accounts of plug ids its topics name. A plug's own
        credentials need none (they publish and read as themselves): the hot path stays free."""
        assert self.principal is not None
        unknown = [i for i in plug_ids if i not in self.plug_accounts and not self.principal.acts_as(i)]
        if not unknown:
            return
        found = await database_sync_to_async(plug_accounts)(plug_ids=unknown)
        for plug_id in unknown:
            self.plug_accounts[plug_id] = found.get(plug_id)

    async def _learn_topic(self, topic: str) -> None:
        assert self.principal is not None
        if self.principal.is_plug:  # it publishes as itself: no account to learn (the hot path)
            return
        route = parse_publish_topic(topic)
        if route is not None:
            await self._learn_accounts([route.plug_id])

    async def _learn_filters(self, topic_filters: Iterable[str]) -> None:
        wanted = (parse_subscription(f) for f in topic_filters)
        await self._learn_accounts([w.plug_id for w in wanted if w is not None and w.plug_id is not None])

    # --- SUBSCRIBE ---------------------------------------------------------------------------

    def _authorize_filter(self, topic_filter: str) -> str | None:
        """The group a filter needs, or None when the client may not subscribe to it."""
        assert self.principal is not None
        wanted = parse_subscription(topic_filter)
        if wanted is None:
            return None
        if wanted.family is Family.PROVISIONS:
            # Answers are sent on this connection: no group to join ("").
            if not access.mqtt_may_provision(self.principal, wanted.client_id, self.client_id):
                return None
            return ""
        if wanted.family is Family.COMMANDS:
            if wanted.plug_id is None or not access.mqtt_may_subscribe_commands(
                self.principal, wanted.plug_id
            ):
                return None
            return plug_group(wanted.plug_id)
        if wanted.family is Family.MIRROR:
            # Mirrors are the account's records seen through other topics: the same group.
            if self.mirror is None or topic_filter not in self.mirror.granted:
                return None
            if wanted.mirror is not None and wanted.mirror.alerts:
                return alerts_group(self.principal.account_id)
            return account_group(self.principal.account_id)
        if wanted.plug_id is not None and not self._may_read(
            wanted.plug_id, self.plug_accounts.get(wanted.plug_id)
        ):
            return None
        return account_group(self.principal.account_id)

    def _may_read(self, of: str, plug_account: str | None) -> bool:
        assert self.principal is not None
        return access.mqtt_may_read_records(
            self.principal, of, plug_account, self.read_reach or access.NOWHERE
        )

    async def _subscribe(self, event: SubscribeRequested) -> None:
        assert self.principal is not None
        self.read_reach = await database_sync_to_async(reach)(self.principal, Mode.READ)
        await self._learn_filters(f for f, _ in event.subscriptions)
        await self._learn_mirrors(f for f, _ in event.subscriptions)
        codes = []
        for topic_filter, qos in event.subscriptions:
            if self._authorize_filter(topic_filter) is None:
                codes.append(SUBACK_FAILURE)
                await self._log_violation(f"subscription to {topic_filter} refused")
                continue
            granted = min(qos, 1)
            self.subscriptions[topic_filter] = granted
            codes.append(granted)
        self.conn.suback(event.packet_id, codes)
        self._flush()
        await self._join_groups()
        await self._save_session()
        if any(is_commands_filter(f) for f, _ in event.subscriptions):
            await self._deliver_stored_commands()
            self._watch_commands()

    async def _learn_mirrors(self, topic_filters: Iterable[str]) -> None:
        """Decide which mirror filters among `topic_filters` the client may subscribe to (none
        asked: nothing to do)."""
        assert self.principal is not None
        if self.mirror is None:
            self.mirror = Mirror(self.principal, self.mirror_form)
        await self.mirror.learn(topic_filters, self.read_reach or access.NOWHERE)

    async def _join_groups(self) -> None:
        wanted = {g for f in self.subscriptions if (g := self._authorize_filter(f))}
        for group in wanted - self.groups:
            await self.link.join(group)
            self.groups.add(group)
        if self.principal is not None and account_group(self.principal.account_id) in self.groups:
            await mark_listening(self.principal.account_id)
            if self.listening is None:
                self.listening = asyncio.get_running_loop().create_task(self._keep_listening())

    async def _keep_listening(self) -> None:
        """Tell writers, while this connection lives, that someone reads the account's records."""
        assert self.principal is not None
        while True:
            await asyncio.sleep(LISTENING_SECONDS / 2)
            await mark_listening(self.principal.account_id)

    async def _save_session(self) -> None:
        if self.persistent and self.principal is not None:
            await database_sync_to_async(command_services.mqtt_session_save)(
                account_id=self.principal.account_id,
                client_id=self.client_id,
                plug_id=self.plug_id,
                subscriptions=dict(self.subscriptions),
            )

    # --- deliveries --------------------------------------------------------------------------

    def _granted(self, topic: str) -> int | None:
        best = None
        for topic_filter, qos in self.subscriptions.items():
            if topic_matches(topic_filter, topic):
                best = qos if best is None else max(best, qos)
        return best

    def _command_route(self, plug_id: str, prop: str) -> tuple[str, int | None]:
        """A command goes out once, on the first prefix the client subscribed to it with."""
        for prefix in DEVICE_PREFIXES:
            topic = command_topic(plug_id, prop, prefix)
            if (qos := self._granted(topic)) is not None:
                return topic, qos
        return "", None

    def _send(self, topic: str, payload: Any, qos: int, retain: bool = False) -> int | None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        if qos == 1 and not self.conn.can_publish_qos1:
            return None
        packet_id = self.conn.publish(topic, body, qos, retain=retain)
        if not self.conn.should_close:  # queued (a closing connection queues nothing)
            self.sent_count.inc()
        return packet_id or 0

    async def _deliver_commands(self, commands: list[dict[str, Any]], *, retained: bool = False) -> int:
        sent: list[str] = []
        for command in commands:
            if not retained and command["id"] in self.delivered:
                continue  # already sent on this connection (by a push, a subscribe or the sweep)
            topic, qos = self._command_route(command["plug"], command["property"])
            if qos is None:
                continue
            packet_id = self._send(topic, command["value"], 0 if retained else qos, retain=retained)
            if packet_id is None:
                continue  # window full: stays pending, delivered on the next subscribe
            if not retained:
                sent.append(command["id"])
                self.delivered[command["id"]] = None
                if packet_id:
                    self.inflight_commands[packet_id] = command["id"]
        while len(self.delivered) > DELIVERED_KEPT:
            del self.delivered[next(iter(self.delivered))]
        self._flush()
        if sent:
            await self._mark_commands(sent, Command.State.SENT)
        return len(sent)

    def _watch_commands(self) -> None:
        if self.plug_id and any(is_commands_filter(f) for f in self.subscriptions):
            command_sweep().watch(self)

    def command_plugs(self) -> list[str]:
        """The plugs whose commands this connection takes (none until it subscribes to them)."""
        if self.ended or not self.plug_id or not any(is_commands_filter(f) for f in self.subscriptions):
            return []
        return list(dict.fromkeys([self.plug_id, *(self.principal.plug_ids if self.principal else ())]))

    async def deliver_stalled(self, plug_id: str, commands: list[dict[str, Any]]) -> int:
        """Pending commands of `plug_id` the sweep found (their push was lost)."""
        return await self._deliver_commands([{**c, "plug": plug_id} for c in commands])

    async def _mark_commands(self, ids: list[str], state: str) -> None:
        """Queue a state change of commands; it is written in the background, in order.

        Delivery never waits for the database: the TCP hub and a WebSocket's layer loop hand
        out one group message after another, and a push that waited for its `sent` update
        (a thread hop and a round trip) let the next ones queue up behind it under load, past
        the channel layer's capacity. What has queued meanwhile is written in one go."""
        self.marks.append((state, ids))
        if self.marking is None or self.marking.done():
            self.marking = asyncio.get_running_loop().create_task(self._write_marks())

    async def _write_marks(self) -> None:
        # A moment for the PUBACK of what was just sent: a device on a fast link acks within it,
        # and the two marks become one write.
        await asyncio.sleep(MARK_GATHER_SECONDS)
        # The commands are of this connection's account (its plug, or a gateway's plugs).
        account_id = self.principal.account_id if self.principal else None
        while self.marks:
            queued, self.marks = self.marks, []
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
                await database_sync_to_async(_commands_mark_all)(changes, account_id)
            except Exception:  # the commands stay as they were: the sweep or a resend moves them on
                log.exception("command state not written", extra={"client": self.client_id})

    async def _deliver_stored_commands(self, *, retained: bool = True) -> None:
        if not self.plug_id:
            return
        for plug_id in dict.fromkeys([self.plug_id, *(self.principal.plug_ids if self.principal else ())]):
            pending, latest = await database_sync_to_async(command_services.commands_for_subscriber)(
                plug_id=plug_id
            )
            if retained:
                await self._deliver_commands([{**c, "plug": plug_id} for c in latest], retained=True)
            await self._deliver_commands([{**c, "plug": plug_id} for c in pending])

    async def group_message(self, message: dict[str, Any]) -> None:
        """A message a transport received for one of the endpoint's groups."""
        kind = message.get("type")
        if kind == Kind.COMMANDS_PUSH:
            plug_id = message.get("plug") or self.plug_id
            await self._deliver_commands([{**c, "plug": plug_id} for c in message["commands"]])
        elif kind == Kind.DATA_POINTS and self.principal is not None:
            for record in message["records"]:
                topic = channel_topic(record["of"], record["channel"])
                qos = self._granted(topic)
                # Records of the account's group are the account's own (the write service
                # stores none for another account's plugs).
                if qos is not None and self._may_read(record["of"], self.principal.account_id):
                    self._send(topic, record, min(qos, 1) if self.conn.can_publish_qos1 else 0)
            if self.mirror is not None and self.mirror.granted:
                for topic, payload, qos in await self.mirror.messages(message["records"], self._granted):
                    self._send(topic, payload, min(qos, 1) if self.conn.can_publish_qos1 else 0)
            self._flush()
        elif kind == Kind.ALERTS and self.mirror is not None:
            for topic, payload, qos in await self.mirror.alerts(message["notifications"], self._granted):
                self._send(topic, payload, min(qos, 1) if self.conn.can_publish_qos1 else 0)
            self._flush()
        elif kind == Kind.MQTT_REVOKE:
            self.conn.abort("credentials revoked: plug disabled or removed, or key regenerated")
            self._flush()
        elif kind == Kind.MQTT_TAKEOVER and message.get("token") != self.token:
            self.conn.abort("session taken over by a newer connection with the same client id")
            self._flush()

    # --- the end -----------------------------------------------------------------------------

    async def lost(self) -> None:
        """The connection ended, cleanly or not: publish the will, leave groups, record it."""
        if self.ended:
            return
        self.ended = True
        if self.conn.accepted:  # counted as connected when accepted
            self.connected.dec()
        will: Will | None = self.conn.will
        if will is not None and self.principal is not None:
            await self._learn_topic(will.topic)
            submission = self._submission(will.topic, will.payload)
            if submission is not None:
                try:
                    await (self.commit or group_commit()).submit(submission, self.source)
                except Exception:
                    log.exception("will not stored", extra={"client": self.client_id})
        if self.listening is not None:
            self.listening.cancel()
        for group in list(self.groups):
            await self.link.leave(group)
        self.groups.clear()
        if self.plug_id and self.principal is not None:
            await database_sync_to_async(command_services.plug_connection_changed)(
                plug_id=self.plug_id,
                account_id=self.principal.account_id,
                connected=False,
                transport=self.source,
                credential=self.principal.credential,
            )

    async def _log_violation(self, reason: str) -> None:
        log.info("mqtt connection closed", extra={"client": self.client_id, "reason": reason})
        if self.plug_id:
            await database_sync_to_async(device_log)(
                plug_id=self.plug_id, source=self.source, code="ProtocolError", message=reason
            )


def _commands_mark_all(changes: list[tuple[str, list[str]]], account_id: str | None) -> None:
    """Queued command state changes, in order, through one thread hop."""
    for state, ids in changes:
        command_services.commands_mark(ids=ids, state=state, account_id=account_id)
