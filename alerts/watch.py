"""What this process knows, without a query, of what the alerts app watches: the trigger
properties of the enabled alerts of each account, and the devices with a `period`.

The write sink asks here for every write, so a write of a property no alert watches, by a device
no one watches, costs no query. The snapshot is rebuilt (two queries) when another process
changed an alert or a period: every change sets a new token in the shared cache once it commits
(`watch_changed`), and each process compares its token with the shared one at most every
`PLUGBOARD_ALERTS_CHECK_SECONDS` (1 s). Without a shared cache (the embedded default is one
process) the local reset is enough; a snapshot older than `MAX_AGE` is rebuilt anyway, so a
token lost in a Redis outage costs at most a minute.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

TOKEN_KEY = "alerts:watch-token"
CHECK_EVERY = float(os.environ.get("PLUGBOARD_ALERTS_CHECK_SECONDS", 1.0))
MAX_AGE = 60.0


@dataclass(frozen=True)
class Snapshot:
    triggers: dict[str, frozenset[str]]  # account id → property names some enabled alert watches
    watched: frozenset[str]  # plugs with a period
    token: object
    built: float
    checked: list[float] = field(default_factory=lambda: [0.0])

    def triggers_of(self, account_id: str) -> frozenset[str]:
        return self.triggers.get(account_id, frozenset())


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def _build(token: object) -> Snapshot:
    # Imported here: this module is imported by apps.py's ready() chain before models load.
    from alerts.models import Alert, DeviceActivity

    triggers: dict[str, set[str]] = {}
    rows = Alert.objects.filter(status=Alert.Status.ENABLED).values_list("account_id", "trigger")
    for account_id, trigger in rows:
        triggers.setdefault(account_id, set()).add(trigger)
    watched = frozenset(DeviceActivity.objects.filter(period__gt=0).values_list("plug_id", flat=True))
    now = time.monotonic()
    return Snapshot({a: frozenset(n) for a, n in triggers.items()}, watched, token, now, [now])


def snapshot() -> Snapshot:
    """The current snapshot; a cache read at most every CHECK_EVERY, a rebuild when stale."""
    global _snapshot
    current = _snapshot
    now = time.monotonic()
    if current is not None and now - current.checked[0] < CHECK_EVERY:
        return current
    token = cache.get(TOKEN_KEY)
    if current is not None and token == current.token and now - current.built < MAX_AGE:
        current.checked[0] = now
        return current
    with _lock:
        if _snapshot is current or _snapshot is None:
            _snapshot = _build(token)
        return _snapshot


def watch_reset() -> None:
    """Forget this process's snapshot (the next write rebuilds it)."""
    global _snapshot
    _snapshot = None


def watch_changed() -> None:
    """An alert or a period changed: every process rebuilds its snapshot once this commits."""

    def tell() -> None:
        cache.set(TOKEN_KEY, uuid.uuid4().hex, None)
        watch_reset()

    transaction.on_commit(tell)
