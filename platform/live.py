"""The channel layer, as every app uses it: group names and the messages sent to them.

One place names the groups (one per plug for its connections, one per account for live
readers of its records, one per MQTT client id within an account) and the message kinds, so a
sender and a receiver cannot drift apart. Messages are sent after the write commits and best
effort: the data is stored whether or not anyone hears of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from redis.exceptions import RedisError

from plugboard.cache import outage_logged, unavailable_within

log = logging.getLogger(__name__)

_thread = threading.local()


class Kind(StrEnum):
    """A group message's `type`: Channels dispatches on it."""

    COMMANDS_PUSH = "commands.push"  # {plug, commands: [{id, property, value, at}]}
    DATA_POINTS = "data.points"  # {records: [{id, channel, data, at, of}], source: the journal's}
    MQTT_REVOKE = "mqtt.revoke"  # {plug}: the plug's credentials stopped being valid
    MQTT_TAKEOVER = "mqtt.takeover"  # {token}: a newer connection took the client id
    ALERTS = "alerts.notifications"  # {notifications: [{device, body}]}: to `{account}/alerts/{device}`
    CREDENTIALS_CHANGED = "credentials.changed"  # {}: forget remembered secrets (devices.credential_cache)
    # Console pages only (their own group, `console_group`):
    PLUG_CONNECTION = "plug.connection"  # {plug, connected, transport, last_seen: ms}
    COMMANDS_STATE = "commands.state"  # {commands: [{id, plug, property, value, state}]}
    DEVICE_LOG = "device.log"  # {entries: [{id, plug, at: ms, source, property, code, message}]}
    INCIDENT = "alerts.incident"  # {incident: {id, alertId, alertName, deviceId, severity, status, …}}


def plug_group(plug_id: str) -> str:
    """The group of a plug's live connections: its commands and revocation arrive here."""
    return f"plug.{plug_id}"


def key_group(key_id: str) -> str:
    """The group of the live connections of a user or API client key: its revocation arrives
    here (a device key's connections are its plug's, `plug_group`)."""
    return f"key.{key_id}"


def account_group(account_id: str) -> str:
    """The group of every live reader of an account's data."""
    return f"data.{account_id}"


def alerts_group(account_id: str) -> str:
    """The group of the MQTT subscribers of an account's alert notifications
    (`{account}/alerts/{device}`)."""
    return f"alerts.{account_id}"


def console_group(account_id: str) -> str:
    """The group of an account's open console pages: connection and command state changes."""
    return f"console.{account_id}"


def client_group(account_id: str, client_id: str) -> str:
    """The group of one MQTT client id within one account (SPEC §7: sessions belong to an
    account, so the same client id in another account is another session)."""
    # A digest, not the id itself: any client id (up to 65535 bytes, any characters) fits the
    # layer's group names (under 100 ASCII characters), and two ids never share a group.
    digest = hashlib.blake2b(client_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"client.{account_id}.{digest}"


def envelope(kind: Kind, group: str, **body: Any) -> dict[str, Any]:
    """A group message: its kind, the group it was sent to (the TCP hub routes on it), the body."""
    return {"type": str(kind), "group": group, **body}


def bind_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Mark the current worker thread as serving `loop` (the MQTT group commit's writer).

    Group messages from such a thread are handed to that loop instead of a private one made by
    async_to_sync: the in-memory layer is not thread-safe, and a loop per call would cost a
    Redis connection per batch.
    """
    _thread.loop = loop


def group_send(kind: Kind, group: str, **body: Any) -> None:
    """Send a group message from sync code; best effort (the data is stored)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = envelope(kind, group, **body)
    loop: asyncio.AbstractEventLoop | None = getattr(_thread, "loop", None)
    try:
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        else:
            async_to_sync(layer.group_send)(group, message)
    except (RedisError, OSError) as exc:  # the layer is down: said once in a while, not per message
        outage_logged(exc, "channel layer")
    except Exception:
        log.exception("group message failed", extra={"group": group})


async def group_send_async(kind: Kind, group: str, **body: Any) -> None:
    """`group_send` from async code."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, envelope(kind, group, **body))
    except (RedisError, OSError) as exc:
        outage_logged(exc, "channel layer")
    except Exception:
        log.exception("group message failed", extra={"group": group})


# A live reader of an account's records (an MQTT subscription to `…/data/…`, a console page)
# keeps this key fresh; writes skip serialising records nobody is listening for.
LISTENING_SECONDS = 120


def listening_key(account_id: str) -> str:
    return f"live:{account_id}"


async def mark_listening(account_id: str) -> None:
    """Say, for LISTENING_SECONDS, that someone reads the account's live records."""
    await cache.aset(listening_key(account_id), 1, LISTENING_SECONDS)


# Within one write, whether an account has a live reader is asked of the cache once: a command
# write asked twice (its consoles, then its records' broadcast), a round trip to Redis each.
_listening: ContextVar[dict[str, bool] | None] = ContextVar("listening", default=None)


@contextmanager
def listening_remembered() -> Iterator[None]:
    """Remember `someone_listens` answers (and `broadcast_points`' look-ups) within the block."""
    token = _listening.set({})
    try:
        yield
    finally:
        _listening.reset(token)


def someone_listens(account_id: str) -> bool:
    """Whether a live reader (a console page, an MQTT subscriber) marked the account lately."""
    memo = _listening.get()
    if memo is not None and account_id in memo:
        return memo[account_id]
    answer = cache.get(listening_key(account_id)) is not None
    if memo is not None:
        memo[account_id] = answer
    return answer


def broadcast_points(
    accounts: Iterable[str], records: Callable[[str], list[dict[str, Any]]], source: str = ""
) -> None:
    """One group message per account that has a live reader, with `records(account)` and the
    write's journal `source`: the records are only built for accounts someone listens to.

    It runs after the write committed: nothing here may fail the request (SPEC §11), so an
    error is logged and the broadcast dropped (the data is stored; readers can read it)."""
    try:
        accounts = list(dict.fromkeys(accounts))
        # Readers re-mark every LISTENING_SECONDS / 2: until they have after an outage (which
        # took their marks with it), assume someone may be listening.
        anyone = unavailable_within(LISTENING_SECONDS)
        memo = _listening.get()
        known = memo if memo is not None else {}
        unknown = [a for a in accounts if a not in known]
        found = cache.get_many([listening_key(a) for a in unknown]) if unknown and not anyone else {}
        listens = {**known, **{a: listening_key(a) in found for a in unknown}}
        if memo is not None:
            memo.update(listens)
        for account_id in accounts:
            if not anyone and not listens[account_id]:
                continue
            group = account_group(account_id)
            group_send(Kind.DATA_POINTS, group, records=records(account_id), source=source)
    except Exception:
        log.exception("live broadcast failed")
