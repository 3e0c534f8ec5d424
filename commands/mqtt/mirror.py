"""Device mirroring over MQTT (SPEC §13, Connio's "reading device data via MQTT"): read-only
topics `{account}/devices/{device}/properties/{name}` and
`{account}/apps/{app}/devices/{device}/properties/{name}`.

A mirror subscriber is one more live reader of the account's records: it joins the account's
group, as a `{plug}/data/{mask}` subscriber does, and the write service's one broadcast
(`plugboard.live.broadcast_points`, after every write from every path) reaches it. What is
mirrored-specific — the names its topics are spelled with, who may read which — lives here and
in `devices.access`, and costs nothing to a connection without a mirror subscription.

The account's alert notifications (SPEC §12, an alert's `mqtt` notification without a `url`)
reach the same subscribers on `{account}/alerts/{device}` (the device's id, or its name where the
filter names it so): the alerts app's outbox deliverer sends each to the account's group
(`Kind.ALERTS`), and `Mirror.alerts` turns it into the topics this connection subscribed to.

Values go out raw (the point's JSON value) unless the CONNECT asked for data points
(`format=dp` after the key id in the username: `_key_…?format=dp`), then `{"t": ISO 8601,
"v": value}` as the property dialect's reads answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from commands.mqtt.protocol.topics import (
    MirrorFilter,
    alerts_topic,
    mirror_app_topic,
    mirror_device_topic,
    parse_subscription,
)
from devices import access
from devices.models import Plug
from devices.selectors import (
    MirroredPlug,
    account_public_name,
    mirrored_plugs,
    plug_named,
    plugged_into,
)
from plugboard.principals import Principal
from plugboard.timestamps import iso

RAW = "raw"
DATA_POINTS = "dp"
FORMS = (RAW, DATA_POINTS)
# A plug's name and apps, and the plugs the key may read, are read again after this long: a
# renamed device or one plugged into another app is mirrored under its new topics within it,
# and a device unplugged from an app key's app stops reaching that key.
NAMES_SECONDS = 30.0


def connect_username(username: str | None) -> tuple[str | None, str] | None:
    """(the username without its options, the mirror form) of a CONNECT's username, or None
    when it carries an option other than `format=raw|dp` (the CONNECT is then refused)."""
    if username is None or "?" not in username:
        return username, RAW
    name, _, options = username.partition("?")
    form = RAW
    for option in options.split("&"):
        key, _, value = option.partition("=")
        if key != "format" or value not in FORMS:
            return None
        form = value
    return name, form


@dataclass
class Mirror:
    """A connection's mirror subscriptions: which filters it was granted, and the names its
    topics are spelled with."""

    principal: Principal
    form: str
    account: str = ""  # the account's name, lower case: the first level of every mirror topic
    granted: set[str] = field(default_factory=set)
    plugs: dict[str, tuple[float, MirroredPlug | None]] = field(default_factory=dict)
    reach: access.Reach = access.NOWHERE  # the plugs it may read, as of `reach_until` - NAMES_SECONDS
    reach_until: float = 0.0

    async def learn(self, filters: Iterable[str], read_reach: access.Reach) -> None:
        """Decide, once per filter, which mirror filters the client may subscribe to."""
        wanted = {}
        for topic_filter in filters:
            parsed = parse_subscription(topic_filter)
            if parsed is not None and parsed.mirror is not None and topic_filter not in self.granted:
                wanted[topic_filter] = parsed.mirror
        if not wanted or not access.mqtt_may_mirror(self.principal):
            return
        account, granted = await database_sync_to_async(_grants)(self.principal, read_reach, wanted)
        self.account = account
        self.granted.update(granted)
        self.reach, self.reach_until = read_reach, time.monotonic() + NAMES_SECONDS

    async def messages(
        self, records: list[dict[str, Any]], granted: Callable[[str], int | None]
    ) -> list[tuple[str, Any, int]]:
        """(topic, payload, QoS) of each mirror message `records` make for this connection."""
        read_reach = await self._known({r["of"] for r in records})
        out: list[tuple[str, Any, int]] = []
        account_id = self.principal.account_id
        for record in records:
            known = self.plugs.get(record["of"])
            plug = known[1] if known else None
            if plug is None or not access.mqtt_may_mirror_device(
                self.principal, plug.id, account_id, read_reach
            ):
                continue
            payload = record["data"] if self.form == RAW else {"t": iso(record["at"]), "v": record["data"]}
            prop = record["channel"]
            # Once per family: under the device's name where a filter names it so (or `+`),
            # else under its id.
            for device in (plug.name, plug.id):
                topic = mirror_device_topic(self.account, device, prop)
                if (qos := granted(topic)) is not None:
                    out.append((topic, payload, qos))
                    break
            for app_id, app_name in plug.apps:
                if access.mqtt_may_mirror_app(self.principal, app_id, account_id):
                    topic = mirror_app_topic(self.account, app_name, plug.name, prop)
                    if (qos := granted(topic)) is not None:
                        out.append((topic, payload, qos))
        return out

    async def alerts(
        self, notifications: list[dict[str, Any]], granted: Callable[[str], int | None]
    ) -> list[tuple[str, Any, int]]:
        """(topic, payload, QoS) of each alert notification (`{device, body}`) for this
        connection: on `{account}/alerts/{device}` of the devices it may read."""
        read_reach = await self._known({n["device"] for n in notifications})
        out: list[tuple[str, Any, int]] = []
        for notification in notifications:
            known = self.plugs.get(notification["device"])
            plug = known[1] if known else None
            if plug is None or not access.mqtt_may_mirror_device(
                self.principal, plug.id, self.principal.account_id, read_reach
            ):
                continue
            for device in (plug.name, plug.id):
                topic = alerts_topic(self.account, device)
                if (qos := granted(topic)) is not None:
                    out.append((topic, notification["body"], qos))
                    break
        return out

    async def _known(self, plug_ids: set[str]) -> access.Reach:
        """The plugs the key may read (read again every NAMES_SECONDS), after learning the names
        and apps of `plug_ids` not known for NAMES_SECONDS."""
        now = time.monotonic()
        if self.reach_until <= now:
            self.reach = await database_sync_to_async(access.reach)(self.principal, access.Mode.READ)
            self.reach_until = now + NAMES_SECONDS
        stale = {p for p in plug_ids if (known := self.plugs.get(p)) is None or known[0] <= now}
        stale.discard(self.principal.account_id)  # the account's own records: no device
        if stale:
            found = await database_sync_to_async(mirrored_plugs)(
                account_id=self.principal.account_id, plug_ids=stale
            )
            for plug_id in stale:
                self.plugs[plug_id] = (now + NAMES_SECONDS, found.get(plug_id))
        return self.reach


def _grants(
    principal: Principal, read_reach: access.Reach, wanted: dict[str, MirrorFilter]
) -> tuple[str, set[str]]:
    """The account's mirror name and the filters among `wanted` the client may subscribe to:
    its own account's name, an app it may read through, a device it may read (plugged into
    that app, for the apps family)."""
    account_id = principal.account_id
    account = account_public_name(account_id=account_id).lower()
    granted = set()
    for topic_filter, mirror in wanted.items():
        if not account or mirror.account != account:
            continue
        app = None
        if mirror.apps and mirror.app is not None:
            app = plug_named(account_id=account_id, ref=mirror.app, kind=Plug.Kind.CONTROLLER)
            # The apps family names the app and the device by name (the topics it is sent on).
            if app is None or app.name.lower() != mirror.app:
                continue
            if not access.mqtt_may_mirror_app(principal, app.id, app.account_id):
                continue
        if mirror.device is not None:
            device = plug_named(account_id=account_id, ref=mirror.device)
            if device is None or (mirror.apps and device.name.lower() != mirror.device):
                continue
            if not access.mqtt_may_mirror_device(principal, device.id, device.account_id, read_reach):
                continue
            if app is not None and not plugged_into(app_id=app.id, plug_id=device.id):
                continue
        granted.add(topic_filter)
    return account, granted
