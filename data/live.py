"""Live records to MQTT subscribers and console pages, sent after the write commits."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

log = logging.getLogger(__name__)

_thread = threading.local()


def bind_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Mark the current worker thread as serving `loop` (the MQTT group commit's writer).

    Group messages from such a thread are handed to that loop instead of a private one made by
    async_to_sync: the in-memory layer is not thread-safe, and a loop per call would cost a
    Redis connection per batch.
    """
    _thread.loop = loop


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer group message from sync code; best effort (the data is stored)."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop: asyncio.AbstractEventLoop | None = getattr(_thread, "loop", None)
    try:
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        else:
            async_to_sync(layer.group_send)(group, message)
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


def account_group(account_id: str) -> str:
    """The channel-layer group of every live reader of an account's data."""
    return f"data.{account_id}"


def broadcast_points(accounts: Iterable[str], records: Callable[[str], list[dict[str, Any]]]) -> None:
    """One group message per account that has a live reader, with `records(account)`: the
    records are only built for accounts someone listens to."""
    accounts = list(dict.fromkeys(accounts))
    listening = cache.get_many([listening_key(a) for a in accounts])
    for account_id in accounts:
        if listening_key(account_id) not in listening:
            continue
        group = account_group(account_id)
        group_send(group, {"type": "data.points", "group": group, "records": records(account_id)})
