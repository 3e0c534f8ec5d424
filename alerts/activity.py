"""Device activity (SPEC §12, Connio's built-in Device profile): a device's `period` drives its
`active` property (`active`, `inactive`, `unknown`), `lastIn` and `lastOut`.

- Every write of a watched device (one with a period) moves its due time to now + period, in the
  write's transaction, with one statement for the whole write (`activity_touch`); writes of
  devices no one watches cost nothing (`alerts.watch`).
- A periodic scan (`activity_scan`: Celery beat under Redis, in-process on the embedded default,
  every `PLUGBOARD_ACTIVITY_SCAN_SECONDS`, 1 s) turns the devices whose due time passed
  `inactive` with ONE statement over the partial index on the due time, however many devices are
  watched; a device is therefore marked within its period plus the scan interval.
- `active` is a real property of the device, written through the write service on each change
  (source `alerts`), so it reads like any property and alerts trigger on it.
- `lastIn` / `lastOut` (the time of the device's last write, of the last command sent to it, as
  ISO 8601 values) are kept in the activity row, not as points (a point per write would double
  every write): the property reads answer them (`activity_values`, a built-in reader of
  `data.property_reads`), and each change is broadcast to the live readers as a record of that
  property after the write commits, so MQTT mirror and channel subscribers receive it too.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from alerts.models import DeviceActivity
from alerts.watch import snapshot, watch_changed
from data.services import PointIn, StoredPoint, Submission, points_write_many
from devices.models import Plug
from devices.services.fields import V3_KEY
from plugboard.identifiers import new_oid
from plugboard.live import broadcast_points
from plugboard.principals import Principal
from plugboard.timestamps import iso, now_ms

log = logging.getLogger(__name__)

SOURCE = "alerts"  # the journal's source of the platform's own writes (`active`, commands)
ACTIVE = "active"
LAST_IN, LAST_OUT = "lastIn", "lastOut"
SCAN_EVERY = float(os.environ.get("PLUGBOARD_ACTIVITY_SCAN_SECONDS", 1.0))
_TABLE = DeviceActivity._meta.db_table


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def period_of(plug: Plug) -> int:
    """The device's v3 `period` (seconds; 0 when none was set)."""
    props = plug.props if isinstance(plug.props, dict) else {}
    extras = props.get(V3_KEY)
    period = extras.get("period") if isinstance(extras, dict) else None
    return period if isinstance(period, int) and not isinstance(period, bool) and period > 0 else 0


def activity_sync(*, plug: Plug, watched: bool) -> None:
    """Keep the device's activity row in step with its `period` (called when a plug is saved;
    `watched`: whether this process believes the plug has a period, so that a plug without one,
    the common case, costs no query)."""
    period = period_of(plug)
    if period == 0 and not watched:
        return
    row = DeviceActivity.objects.filter(plug_id=plug.id).first()
    if row is not None and row.period == period:
        return
    due = now_ms() + period * 1000 if period else None
    if row is None:
        DeviceActivity.objects.create(plug_id=plug.id, account_id=plug.account_id, period=period, due_at=due)
    else:
        state = row.state if period else DeviceActivity.State.UNKNOWN
        DeviceActivity.objects.filter(plug_id=plug.id).update(period=period, due_at=due, state=state)
    watch_changed()


def activity_touch(*, seen: dict[str, str], commanded: dict[str, str]) -> None:
    """Inside a write's transaction: the watched devices that wrote (`seen`: plug → the last
    property it wrote) are due again in a period and are `active`; the watched devices that were
    sent a command (`commanded`: plug → property) record it as `lastOut`. One statement each."""
    now = now_ms()
    woke: list[tuple[str, str]] = []
    touched: list[tuple[str, str, str]] = []  # (plug, account, lastIn|lastOut)
    with connection.cursor() as cursor:
        if seen:
            ids = list(seen)
            cases = " ".join("WHEN %s THEN %s" for _ in ids)
            params: list[Any] = [now]
            for plug_id in ids:
                params += [plug_id, seen[plug_id][:200]]
            params += [now, *ids]
            cursor.execute(
                f"UPDATE {_TABLE} SET last_in_at = %s, last_in_property = CASE plug_id {cases} END, "
                f"due_at = %s + period * 1000 WHERE period > 0 AND plug_id IN ({_marks(len(ids))}) "
                "RETURNING plug_id, account_id, state",
                params,
            )
            rows = cursor.fetchall()
            touched += [(plug_id, account_id, LAST_IN) for plug_id, account_id, _ in rows]
            woke = [(plug_id, account_id) for plug_id, account_id, state in rows if state != ACTIVE]
            if woke:
                cursor.execute(
                    f"UPDATE {_TABLE} SET state = %s WHERE plug_id IN ({_marks(len(woke))})",
                    [ACTIVE, *(plug_id for plug_id, _ in woke)],
                )
        if commanded:
            ids = list(commanded)
            cases = " ".join("WHEN %s THEN %s" for _ in ids)
            params = [now]
            for plug_id in ids:
                params += [plug_id, commanded[plug_id][:200]]
            cursor.execute(
                f"UPDATE {_TABLE} SET last_out_at = %s, last_out_property = CASE plug_id {cases} END "
                f"WHERE plug_id IN ({_marks(len(ids))}) RETURNING plug_id, account_id, period",
                [*params, *ids],
            )
            touched += [(plug_id, account_id, LAST_OUT) for plug_id, account_id, period in cursor if period]
    if woke:
        transaction.on_commit(lambda: _write_state(woke, ACTIVE))
    if touched:
        transaction.on_commit(lambda: _announce(touched, now))


def _announce(touched: Sequence[tuple[str, str, str]], at: int) -> None:
    """Send the new `lastIn` / `lastOut` values to the accounts' live readers (after commit)."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for plug_id, account, name in touched:
        record = {"id": new_oid(at), "channel": name, "data": iso(at), "at": at, "of": plug_id}
        by_account.setdefault(account, []).append(record)
    broadcast_points(list(by_account), lambda account_id: by_account.get(account_id, []), SOURCE)


def activity_values(plug: Plug) -> dict[str, tuple[int, Any]]:
    """`{lastIn|lastOut: (at, ISO 8601 value)}` of a watched device (the property reads'
    built-in reader); no query for a device without a period."""
    if plug.id not in snapshot().watched:
        return {}
    row = DeviceActivity.objects.filter(plug_id=plug.id).values_list("last_in_at", "last_out_at").first()
    values: dict[str, tuple[int, Any]] = {}
    for name, at in zip((LAST_IN, LAST_OUT), row or (None, None), strict=True):
        if at is not None:
            values[name] = (at, iso(at))
    return values


def activity_points(
    stored: Sequence[StoredPoint], watched: frozenset[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(seen, commanded) of a write's points, for `activity_touch`: only watched devices."""
    seen: dict[str, str] = {}
    commanded: dict[str, str] = {}
    for p in stored:
        if p.of in watched:
            (commanded if p.command else seen)[p.of] = p.channel
    return seen, commanded


def activity_scan(now: int | None = None) -> int:
    """Turn every watched device whose due time passed `inactive` (one statement over the
    partial index `activity_due`) and write their `active` property; how many turned."""
    now = now_ms() if now is None else now
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET state = %s, due_at = NULL WHERE due_at <= %s "
                "RETURNING plug_id, account_id",
                [DeviceActivity.State.INACTIVE, now],
            )
            due = [(plug_id, account_id) for plug_id, account_id in cursor.fetchall()]
        if due:
            _write_state(due, DeviceActivity.State.INACTIVE)
    return len(due)


def _write_state(plugs: Sequence[tuple[str, str]], state: str) -> None:
    """Write `active` = `state` for each plug as its own data, through the write service (so
    the property reads like any other and alerts on it are evaluated)."""
    try:
        points_write_many(
            submissions=[
                Submission(
                    Principal(account_id=account_id, kind="plug", credential=SOURCE, plug_id=plug_id),
                    [PointIn(channel=ACTIVE, data=state)],
                )
                for plug_id, account_id in plugs
            ],
            source=SOURCE,
        )
    except Exception:  # the state is kept in the activity row; the property catches up next time
        log.exception("writing the active property of %d devices failed", len(plugs))


def activity_of(*, plug_id: str) -> DeviceActivity | None:
    return DeviceActivity.objects.filter(plug_id=plug_id).first()


async def activity_schedule() -> None:
    """The embedded default's in-process scan (production: Celery beat, `alerts.tasks`)."""
    while True:
        await asyncio.sleep(SCAN_EVERY)
        try:
            await sync_to_async(activity_scan, thread_sensitive=False)()
        except Exception:  # keep the schedule alive; the next round retries
            log.exception("activity scan failed")
