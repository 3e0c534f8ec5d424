"""Who is at the other end of an MQTT connection, and the groups its connection joined.

CONNECT (credentials, the takeover of a client id, the session row, the plug's connection
state), the accounts of the plugs its topics name, the device log of a violation, and the end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from channels.db import database_sync_to_async

from commands import services as command_services
from commands.mqtt.mirror import RAW, connect_username
from commands.mqtt.protocol.connection import ConnectRequested
from commands.mqtt.protocol.packets import CONNACK_BAD_CREDENTIALS
from commands.mqtt.protocol.topics import parse_publish_topic, parse_subscription
from commands.mqtt.wire import Wire
from devices import access
from devices.device_log import device_log
from devices.identity import verify_mqtt
from devices.selectors import plug_accounts
from plugboard.live import Kind, client_group, group_send_async, key_group, plug_group
from plugboard.metrics import MQTT_CONNECTIONS, MQTT_TRANSPORTS
from plugboard.principals import Principal

log = logging.getLogger(__name__)

_CONNECTED = {t: MQTT_CONNECTIONS.labels(t) for t in MQTT_TRANSPORTS}


class Session:
    def __init__(self, wire: Wire, peer: str) -> None:
        self.wire = wire
        self.peer = peer  # the client's address: failed CONNECTs count against it
        self.connected = _CONNECTED[wire.source]
        self.principal: Principal | None = None
        self.plug_id: str | None = None
        self.client_id = ""
        self.token = uuid.uuid4().hex  # tells this connection's takeover message from others'
        self.persistent = False
        self.groups: set[str] = set()
        self.mirror_form = RAW  # how mirror topics carry values (`?format=` in the username)
        # The account of each plug id a topic of this client named (None: no such plug): the
        # rights of a key that acts for an account depend on it, and plugs never change account.
        self.plug_accounts: dict[str, str | None] = {}

    # --- CONNECT -----------------------------------------------------------------------------

    async def authenticate(self, event: ConnectRequested) -> Principal | None:
        """The principal of the CONNECT's credentials; None: refused (the CONNACK says why)."""
        options = connect_username(event.username)
        if options is None:
            self.wire.conn.refuse(CONNACK_BAD_CREDENTIALS)
            return None
        username, self.mirror_form = options
        verdict = await database_sync_to_async(verify_mqtt)(
            event.client_id, username, event.password, peer=self.peer
        )
        if isinstance(verdict, int):
            self.wire.conn.refuse(verdict)
            return None
        self.principal, self.plug_id = verdict
        self.client_id = event.client_id
        return self.principal

    async def open(self, event: ConnectRequested) -> dict[str, int] | None:
        """Accept the authenticated CONNECT: the subscriptions a persistent session kept (None:
        no session was present)."""
        assert self.principal is not None
        # Same client id twice in one account: the older session is closed (here or in another
        # process). Another account's connection with that client id is not in this group.
        group = client_group(self.principal.account_id, event.client_id)
        await group_send_async(Kind.MQTT_TAKEOVER, group, token=self.token)
        await self.join(group)
        self.persistent = not event.clean_session
        kept: dict[str, int] | None = await database_sync_to_async(command_services.mqtt_session_open)(
            account_id=self.principal.account_id,
            client_id=event.client_id,
            plug_id=self.plug_id,
            clean=event.clean_session,
        )
        self.wire.conn.accept(session_present=kept is not None)
        self.connected.inc()
        self.wire.flush()
        if self.plug_id:
            # Commands, and the revocation of these credentials, arrive on the plug's group.
            await self.join(plug_group(self.plug_id))
        elif self.principal.key_id:
            # A user or API client key: its revocation (the key removed or regenerated, its user
            # disabled, its account suspended) arrives on the key's group.
            await self.join(key_group(self.principal.key_id))
        if self.plug_id:
            await self._connection_changed(connected=True)
        return kept

    async def join(self, group: str) -> None:
        if group not in self.groups:
            await self.wire.link.join(group)
            self.groups.add(group)

    async def save(self, subscriptions: dict[str, int]) -> None:
        """Keep the subscriptions of a persistent session for its next connection."""
        if self.persistent and self.principal is not None:
            await database_sync_to_async(command_services.mqtt_session_save)(
                account_id=self.principal.account_id,
                client_id=self.client_id,
                plug_id=self.plug_id,
                subscriptions=dict(subscriptions),
            )

    # --- the plugs its topics name -----------------------------------------------------------

    async def learn_accounts(self, plug_ids: list[str]) -> None:
        """Look up, once per connection, the accounts of plug ids its topics name. A plug's own
        credentials need none (they publish and read as themselves): the hot path stays free."""
        assert self.principal is not None
        unknown = [i for i in plug_ids if i not in self.plug_accounts and not self.principal.acts_as(i)]
        if not unknown:
            return
        found = await database_sync_to_async(plug_accounts)(plug_ids=unknown)
        for plug_id in unknown:
            self.plug_accounts[plug_id] = found.get(plug_id)

    async def learn_topic(self, topic: str) -> None:
        assert self.principal is not None
        if self.principal.is_plug:  # it publishes as itself: no account to learn
            return
        route = parse_publish_topic(topic)
        if route is not None:
            await self.learn_accounts([route.plug_id])

    async def learn_filters(self, topic_filters: Iterable[str]) -> None:
        wanted = (parse_subscription(f) for f in topic_filters)
        await self.learn_accounts([w.plug_id for w in wanted if w is not None and w.plug_id is not None])

    def may_publish_for(self, plug_id: str) -> bool:
        assert self.principal is not None
        return access.mqtt_may_publish_to_device(self.principal, plug_id, self.plug_accounts.get(plug_id))

    # --- the end -----------------------------------------------------------------------------

    async def log_violation(self, reason: str) -> None:
        log.info("mqtt connection closed", extra={"client": self.client_id, "reason": reason})
        if self.plug_id:
            await database_sync_to_async(device_log)(
                plug_id=self.plug_id, source=self.wire.source, code="ProtocolError", message=reason
            )

    def counted_out(self) -> None:
        if self.wire.conn.accepted:  # counted as connected when accepted
            self.connected.dec()

    async def close(self) -> None:
        """Leave every group; a plug's connection state says it is gone."""
        for group in list(self.groups):
            await self.wire.link.leave(group)
        self.groups.clear()
        if self.plug_id and self.principal is not None:
            await self._connection_changed(connected=False)

    async def _connection_changed(self, *, connected: bool) -> None:
        assert self.plug_id is not None and self.principal is not None
        await database_sync_to_async(command_services.plug_connection_changed)(
            plug_id=self.plug_id,
            account_id=self.principal.account_id,
            connected=connected,
            transport=self.wire.source,
            credential=self.principal.credential,
        )
