"""What this process knows, without a query, of what the alerts app watches: the enabled alerts
of each account by trigger property (whole definitions), the bases of the device profiles, the
devices with a `period`, and which (alert, device) pairs have an open incident.

The write sink asks here for every write, so a write of a property no alert watches, by a device
no one watches, costs no query; and evaluation asks here too, so a write that matches no
condition of an alert and has no open incident costs no query either.

- The snapshot of alerts, profile bases and periods is rebuilt (three queries) when another
  process changed an alert, a profile or a period: every change sets a new token in the shared
  cache once it commits (`watch_changed`), and each process compares its token with the shared
  one at most every `PLUGBOARD_ALERTS_CHECK_SECONDS` (1 s).
- The open pairs are kept apart (incidents change far more often than alerts): this process
  updates its own set as it opens and clears incidents (`incident_opened`, `incident_closed`),
  and every such change sets a second token, so the other processes reload the set (one query)
  within the same check interval. A stale "open" costs one query that finds nothing; a stale
  "not open" delays the clear of an incident another process opened less than a check interval
  ago to the device's next normal point (docs/alerts.md).
- Without a shared cache (the embedded default is one process) the local updates are enough; a
  snapshot older than `MAX_AGE` is rebuilt anyway, so a token lost in a Redis outage costs at
  most a minute.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction

if TYPE_CHECKING:  # only for the annotations: this module loads before the models
    from alerts.models import Alert

TOKEN_KEY = "alerts:watch-token"
OPEN_TOKEN_KEY = "alerts:open-token"
CHECK_EVERY = float(os.environ.get("PLUGBOARD_ALERTS_CHECK_SECONDS", 1.0))
MAX_AGE = 60.0
MAX_DEPTH = 10  # a profile's chain of bases, as devices.services.profiles bounds it


@dataclass(frozen=True)
class Snapshot:
    triggers: dict[str, frozenset[str]]  # account id → property names some enabled alert watches
    alerts: dict[tuple[str, str], tuple[Alert, ...]]  # (account, trigger) → its enabled alerts
    bases: dict[str, str]  # device profile → its base profile (profiles with a base only)
    watched: frozenset[str]  # plugs with a period
    token: object
    built: float
    checked: list[float] = field(default_factory=lambda: [0.0])

    def triggers_of(self, account_id: str) -> frozenset[str]:
        return self.triggers.get(account_id, frozenset())

    def owners(self, plug_id: str, profile: str | None) -> list[str]:
        """The alert owners that cover the plug: itself, its profile and that profile's bases."""
        chain = [plug_id]
        while profile and profile not in chain and len(chain) <= MAX_DEPTH:
            chain.append(profile)
            profile = self.bases.get(profile)
        return chain

    def alerts_of(self, account_id: str, trigger: str, owners: Sequence[str]) -> list[Alert]:
        return [a for a in self.alerts.get((account_id, trigger), ()) if a.owner_id in owners]


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def _build(token: object) -> Snapshot:
    # Imported here: this module is imported by apps.py's ready() chain before models load.
    from alerts.models import Alert, DeviceActivity
    from devices.models import DeviceProfile

    triggers: dict[str, set[str]] = {}
    alerts: dict[tuple[str, str], list[Alert]] = {}
    for alert in Alert.objects.filter(status=Alert.Status.ENABLED).order_by("date_created", "id"):
        triggers.setdefault(alert.account_id, set()).add(alert.trigger)
        alerts.setdefault((alert.account_id, alert.trigger), []).append(alert)
    bases = dict(
        DeviceProfile.objects.filter(base_profile__isnull=False).values_list("id", "base_profile_id")
    )
    watched = frozenset(DeviceActivity.objects.filter(period__gt=0).values_list("plug_id", flat=True))
    now = time.monotonic()
    return Snapshot(
        {a: frozenset(n) for a, n in triggers.items()},
        {key: tuple(each) for key, each in alerts.items()},
        bases,
        watched,
        token,
        now,
        [now],
    )


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
    """Forget this process's snapshot and open pairs (the next write reloads them)."""
    global _snapshot, _open
    _snapshot = None
    _open = None
    _pending.clear()


def watch_changed() -> None:
    """An alert, a profile's base or a period changed: every process rebuilds its snapshot once
    this commits."""

    def tell() -> None:
        global _snapshot
        cache.set(TOKEN_KEY, uuid.uuid4().hex, None)
        _snapshot = None  # this process's own change: at once (the open pairs are not concerned)

    transaction.on_commit(tell)


# --- open incidents -------------------------------------------------------------------------------
# A reload reads what is committed, so this process's own changes not yet committed (or committed
# while the reload's query ran) would be lost by it: each change stays in `_pending` until
# PENDING_SECONDS after its commit (MAX_AGE if it never commits) and is laid over every reload.

PENDING_SECONDS = 5.0


@dataclass
class _Open:
    pairs: set[tuple[str, str]]  # (alert id, plug id) with an incident not cleared
    token: object
    built: float
    checked: float


_open: _Open | None = None
_pending: dict[tuple[str, str], tuple[bool, float]] = {}  # pair → (open?, kept until)


def _open_current() -> _Open:
    global _open
    current = _open
    now = time.monotonic()
    if current is not None and now - current.checked < CHECK_EVERY:
        return current
    token = cache.get(OPEN_TOKEN_KEY)
    if current is not None and token == current.token and now - current.built < MAX_AGE:
        current.checked = now
        return current
    from alerts.models import Incident  # here: this module loads before the models (see _build)

    with _lock:
        if _open is current or _open is None:
            rows = Incident.objects.exclude(status=Incident.Status.CLEARED).values_list("alert_id", "plug_id")
            pairs = set(rows)
            now = time.monotonic()
            for key, (is_open, until) in list(_pending.items()):
                if until < now:
                    _pending.pop(key, None)
                elif is_open:
                    pairs.add(key)
                else:
                    pairs.discard(key)
            _open = _Open(pairs, token, now, now)
        return _open


def incident_is_open(alert_id: str, plug_id: str) -> bool:
    """Whether this process knows of an open incident of `alert_id` on `plug_id` (no query but
    the set's reload; see the module's docstring for how stale it may be)."""
    return (alert_id, plug_id) in _open_current().pairs


def _open_changed(key: tuple[str, str], is_open: bool) -> None:
    with _lock:
        _pending[key] = (is_open, time.monotonic() + MAX_AGE)
        if _open is not None:
            (_open.pairs.add if is_open else _open.pairs.discard)(key)

    def committed() -> None:
        with _lock:
            if _pending.get(key, (None,))[0] is is_open:
                _pending[key] = (is_open, time.monotonic() + PENDING_SECONDS)
        _open_bump()

    transaction.on_commit(committed)


def _open_bump() -> None:
    """Count the change in the shared cache; this process keeps its set (it made the change)
    unless another process counted one since it last looked."""
    try:
        count = cache.incr(OPEN_TOKEN_KEY)
    except ValueError:  # no count yet (or the cache is down: then nothing is shared anyway)
        cache.add(OPEN_TOKEN_KEY, 0, None)
        try:
            count = cache.incr(OPEN_TOKEN_KEY)
        except ValueError:
            return
    with _lock:
        current = _open
        if current is not None and isinstance(current.token, int) and current.token == count - 1:
            current.token = count


def incident_opened(alert_id: str, plug_id: str) -> None:
    """An incident opened (inside its transaction): known here at once, elsewhere after commit."""
    _open_changed((alert_id, plug_id), True)


def incident_closed(alert_id: str, plug_id: str) -> None:
    """An incident cleared (inside its transaction): known here at once, elsewhere after commit."""
    _open_changed((alert_id, plug_id), False)
