"""The keep-alive watchdog both transports run beside each connection (SPEC §7).

The sans-I/O core has no clock: it counts the packets it has received and knows the client's
keep-alive. The watchdog looks at that count from time to time and, when the client has been
silent too long, tells its transport to close; the transport then ends the endpoint
(`MqttEndpoint.lost`), which publishes the will.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from commands.mqtt.protocol.connection import MqttConnection

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds a new connection may stay silent before its CONNECT is accepted
LONGEST_NAP = 5.0  # a watchdog wakes at least this often, so a changed limit is seen soon


class Watched(Protocol):
    """What the watchdog reads of an endpoint."""

    @property
    def conn(self) -> MqttConnection: ...

    @property
    def client_id(self) -> str: ...


def silence_allowed(conn: MqttConnection) -> float | None:
    """Seconds of silence allowed now: CONNECT_TIMEOUT before the CONNECT is accepted, then
    1.5 × the client's keep-alive, or None (no limit) when its keep-alive is 0."""
    return conn.keepalive_limit if conn.accepted else CONNECT_TIMEOUT


async def keepalive_watchdog(endpoint: Watched, expire: Callable[[], Awaitable[None]]) -> None:
    """Await `expire()` once the endpoint's client has sent nothing for longer than `silence_allowed`.

    It wakes four times per limit (at most every LONGEST_NAP seconds), so a silent connection
    is closed between 1 and 1.25 × its limit. Cancel the task when the connection ends.
    """
    conn = endpoint.conn
    loop = asyncio.get_running_loop()
    seen, since = conn.last_activity_count, loop.time()
    while True:
        limit = silence_allowed(conn)
        await asyncio.sleep(min(limit / 4, LONGEST_NAP) if limit else LONGEST_NAP)
        if conn.last_activity_count != seen:
            seen, since = conn.last_activity_count, loop.time()
        elif limit and loop.time() - since > limit:
            log.info("mqtt keep-alive expired", extra={"client": endpoint.client_id})
            await expire()
            return
