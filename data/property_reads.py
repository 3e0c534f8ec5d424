"""Reads of the property dialect (SPEC §6): a device's properties, latest values, series, journal.

Property P of device D is channel P with `of = D` (SPEC §4). Every read is limited to the
caller's account, checked against `devices.access.reach`, and never returns an expired point,
whether or not the purge has removed it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import JSONField, OuterRef, Q, QuerySet, Subquery

from data.models import DataPoint, JournalEntry
from devices import access
from devices.models import Plug, Property
from devices.selectors import plug_resolve
from plugboard.errors import ApiError
from plugboard.principals import Principal
from plugboard.timestamps import now_ms


def device_reachable(*, principal: Principal, ref: str, kind: str, mode: access.Mode) -> Plug:
    """The plug `{ref}` names, of the given kind, if the caller may read or write its data.

    Unknown, another account's or of the other kind (a thing under `apps/`, a controller under
    `devices/`): 404. Known but out of the caller's reach: 403.
    """
    plug = plug_resolve(principal=principal, ref=ref)
    if plug.kind != kind:
        raise ApiError(404, f"no {'app' if kind == Plug.Kind.CONTROLLER else 'device'} {ref}")
    if not access.may_reach_data(principal, plug, mode):
        raise ApiError(403, f"these credentials may not {mode.name.lower()} {ref}'s data")
    return plug


def _live(now: int) -> Q:
    return Q(expire_at__isnull=True) | Q(expire_at__gt=now)


def property_points(
    *, plug: Plug, channel: str, start: int | None = None, end: int | None = None, now: int | None = None
) -> QuerySet[DataPoint]:
    """The unexpired points of one property of a plug, `start ≤ at ≤ end`, unordered."""
    rows = DataPoint.objects.filter(account_id=plug.account_id, channel=channel, of=plug.id).filter(
        _live(now_ms() if now is None else now)
    )
    if start is not None:
        rows = rows.filter(at__gte=start)
    if end is not None:
        rows = rows.filter(at__lte=end)
    return rows


def properties_with_latest(*, plug: Plug) -> QuerySet[Any]:  # Property rows, annotated
    """The plug's properties by name, each annotated with `live_at` and `live_value`: the time
    and value of its newest unexpired point (None when none is left), in one query.

    `Property.last_value` cannot be trusted alone: the point behind it may have expired (or
    been removed by the channel dialect), so the newest live point is looked up per property.
    """
    newest = property_points(plug=plug, channel=OuterRef("name")).order_by("-at")  # type: ignore[arg-type]
    return (
        Property.objects.filter(plug=plug)
        .annotate(
            live_at=Subquery(newest.values("at")[:1]),
            live_value=Subquery(newest.values("data")[:1], output_field=JSONField()),
        )
        .order_by("name")
    )


def plug_latest_values(*, plug: Plug) -> dict[str, Any]:
    """`{property: value}` of each property's newest unexpired point (one query), with the
    built-in properties the apps above keep elsewhere (`builtin_reader_register`)."""
    rows = properties_with_latest(plug=plug).filter(live_at__isnull=False).values_list("name", "live_value")
    values = dict(rows)
    for name, (_, value) in builtin_values(plug=plug).items():
        values.setdefault(name, value)
    return values


# --- built-in properties ------------------------------------------------------------------------
# A property some app above `data` keeps in its own table rather than as points (the alerts
# app's `lastIn` / `lastOut`, Connio's Device profile): the property reads answer it like a
# property. A reader gives `{name: (at ms, value)}` for a plug, and must cost no query for a
# plug it keeps nothing of.

BuiltinReader = Callable[[Plug], dict[str, tuple[int, Any]]]
_builtin_readers: list[tuple[tuple[str, ...], BuiltinReader]] = []


def builtin_reader_register(names: tuple[str, ...], reader: BuiltinReader) -> None:
    """Have the property reads answer the properties `names` of a plug with `reader(plug)`."""
    if all(r is not reader for _, r in _builtin_readers):
        _builtin_readers.append((names, reader))


def builtin_values(*, plug: Plug) -> dict[str, tuple[int, Any]]:
    """`{name: (at, value)}` of the plug's built-in properties that hold a value."""
    values: dict[str, tuple[int, Any]] = {}
    for _, reader in _builtin_readers:
        values.update(reader(plug))
    return values


def builtin_name(ref: str) -> str | None:
    """The built-in property `ref` names (case-insensitively), or None."""
    wanted = ref.lower()
    for names, _ in _builtin_readers:
        for name in names:
            if name.lower() == wanted:
                return name
    return None


def plug_journal(*, plug: Plug) -> QuerySet[JournalEntry]:
    """The plug's event journal, newest first."""
    return JournalEntry.objects.filter(account_id=plug.account_id, of=plug.id).order_by("-id")
