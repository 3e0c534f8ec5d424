"""PUBLISH: one path from a client's message to the group commit, and its acknowledgement.

Each publish is throttled once (`Throttle`: the connection's messages per second, the key's
rateLimit, the account's points per second), its topic resolved once (`PublishPath.route`: the
device topic and whether the client may publish to it, remembered per connection) and submitted
once. A publish that needs no wait — a known topic, no meter to ask — is handled without a
coroutine; the others finish in `_publish_waiting`. The will is published the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

from commands.mqtt.group_commit import GroupCommit, group_commit
from commands.mqtt.protocol.connection import ProtocolViolation, PublishReceived, Will
from commands.mqtt.protocol.topics import DeviceTopic, Family, parse_publish_topic, provisioning_prefix
from commands.mqtt.session import Session
from commands.mqtt.wire import Wire
from data.feeds import BadFeed, feed_points
from data.services import MISSING, PointIn, Submission
from plugboard.parsers import json_loads
from plugboard.principals import Principal
from plugboard.ratelimits import Meter, points_meter, request_meter
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)

TOPICS_KEPT = 64  # resolved topics a connection remembers (a device publishes on a few)


class Throttle:
    """The three meters of a connection's publishes."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.rate = float(settings.PLUGBOARD["MQTT_PUBLISH_RATE"])
        self.tokens = self.rate
        self.refilled = time.monotonic()
        self.requests: Meter | None = None  # an API key's rateLimit, when it has one
        self.points: Meter | None = None  # the account's points per second, when limited
        self.metered = False  # a meter to ask: every publish waits for it

    async def admit(self, principal: Principal) -> bool:
        """Start metering the connection of `principal`; False: its CONNECT is over the key's
        rateLimit (which counts this CONNECT and every PUBLISH, with its HTTP requests)."""
        if principal.rate_limit > 0:
            self.requests = request_meter(principal)
            if await self.requests.take():
                return False
        points = points_meter(principal.account_id)
        self.points = points if points.limit > 0 else None
        self.metered = self.requests is not None or self.points is not None
        return True

    def take(self) -> None:
        """One message of the connection's rate (a token bucket); over it, the connection closes."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            raise ProtocolViolation(f"publish rate over {int(self.rate)} messages/s")
        self.tokens -= 1

    async def take_request(self) -> None:
        if self.requests is not None and await self.requests.take():
            raise ProtocolViolation(
                f"request rate limit of this API key ({self.requests.limit}/min) exceeded"
            )

    async def take_points(self, count: int) -> None:
        """Past the account's points per second, wait for the next second before reading on
        (the client's window fills, its publishes wait); past it MQTT_LIMIT_STRIKES seconds
        in a row, close the connection (the device log says why)."""
        if self.points is None:
            return
        wait = await self.points.take(count)
        if not wait:
            return
        if self.points.over_windows >= int(settings.PLUGBOARD["MQTT_LIMIT_STRIKES"]):
            raise ProtocolViolation(
                f"points per second of the account over its limit of {self.points.limit}"
                f" for {self.points.over_windows + 1} s in a row"
            )
        self.wire.flush()  # the acks owed so far leave before the wait
        await asyncio.sleep(wait)


class PublishPath:
    """The group commit's `Publisher` of this connection: told when a publish is stored."""

    def __init__(
        self, wire: Wire, session: Session, provision: Callable[[PublishReceived, str], Awaitable[None]]
    ) -> None:
        self.wire = wire
        self.session = session
        self.provision = provision  # answers a provisioning request
        self.throttle = Throttle(wire)
        # Topics the client may publish to, as resolved: what its credentials may do does not
        # change while it is connected.
        self.routes: dict[str, DeviceTopic] = {}
        self.commit: GroupCommit | None = None  # the process's, looked up on the first publish
        self.flush_due = False

    def publish(self, event: PublishReceived) -> Coroutine[Any, Any, None] | None:
        """Handle a PUBLISH: None when done, or the coroutine that finishes it when it must wait
        (a meter to ask, a topic to look up, a provisioning request), for the caller to await."""
        self.throttle.take()
        route = self.routes.get(event.topic)
        if route is None or self.throttle.metered:
            return self._publish_waiting(event, route)
        self._submit(self._submission(route, event.payload), event)
        return None

    async def _publish_waiting(self, event: PublishReceived, route: DeviceTopic | None) -> None:
        await self.throttle.take_request()
        if route is None:
            if (prefix := provisioning_prefix(event.topic)) is not None:
                await self.provision(event, prefix)
                return
            route = await self.route(event.topic)
            if route is None:
                raise ProtocolViolation(f"not allowed to publish to {event.topic}")
        submission = self._submission(route, event.payload)
        await self.throttle.take_points(len(submission.points))
        self._submit(submission, event)

    async def route(self, topic: str) -> DeviceTopic | None:
        """The device topic `topic` names, or None when it is not the client's."""
        route = self.routes.get(topic)
        if route is not None:
            return route
        await self.session.learn_topic(topic)
        route = parse_publish_topic(topic)
        if route is None or not self.session.may_publish_for(route.plug_id):
            return None
        if len(self.routes) >= TOPICS_KEPT:
            self.routes.clear()
        self.routes[topic] = route
        return route

    def _submit(self, submission: Submission, event: PublishReceived) -> None:
        if self.commit is None:
            self.commit = group_commit()
        # Acknowledge only once the point is durably stored (`stored`, in submission order).
        self.commit.submit_for(submission, self.wire.source, self if event.qos else None, event)

    def stored(self, event: PublishReceived, ok: bool) -> None:
        """The group commit stored (or failed to store) the point of `event`."""
        if not ok:
            self.wire.conn.abort("point not stored")  # no ack: the client sends it again
        else:
            self.wire.conn.ack(event)
        # A group commit resolves the futures of many publishes at once: their acks leave
        # together, in one write, once this pass of the event loop has run their callbacks.
        if not self.flush_due and not self.wire.ended:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self.flush_due = False
        if not self.wire.ended:
            self.wire.flush()

    def _submission(self, route: DeviceTopic, payload: bytes) -> Submission:
        """The write a device topic and payload mean."""
        principal = self.session.principal
        assert principal is not None
        try:
            value = json_loads(payload) if payload else None
        except ValueError:
            # Not JSON: a point without a value, which the write service rejects (and, in
            # debug status, writes to the device log). MQTT 3.1.1 has no negative ack.
            value = MISSING
        if route.family is Family.PROPERTY:
            points = [PointIn(channel=route.name, data=value, of=route.plug_id)]
            return Submission(principal, points, property_write=True, require_zone=True)
        if route.family is Family.FEED:
            try:
                points = feed_points(body=value, device_id=route.plug_id, prop=None, now=now_ms())
            except BadFeed as exc:
                # Not a feed at all: nothing to store; the device log (debug) says why.
                points = [PointIn(channel="json", data=MISSING, of=route.plug_id)]
                log.info("mqtt feed refused", extra={"client": self.session.client_id, "reason": exc.message})
            return Submission(principal, points, property_write=True, require_zone=True)
        record = value if isinstance(value, dict) else {}
        point = PointIn(
            channel=route.name,
            of=route.plug_id,
            data=record.get("data", MISSING),
            at=record.get("at"),
            ttl=record.get("ttl"),
            expire_at=record.get("expire_at"),
        )
        return Submission(principal, [point])

    async def will(self, will: Will) -> None:
        """Publish the will of a connection that ended without a DISCONNECT."""
        route = await self.route(will.topic)
        if route is None:
            return
        submission = self._submission(route, will.payload)
        try:
            await (self.commit or group_commit()).submit(submission, self.wire.source)
        except Exception:
            log.exception("will not stored", extra={"client": self.session.client_id})
