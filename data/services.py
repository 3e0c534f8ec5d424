"""The one write service (SPEC §4): validate → store the data point → journal → command.

Every write path calls `points_write` (or `points_write_many` for a group commit of several
callers): the channel dialect, the property dialect, both MQTT transports and the console. A
dialect only translates its wire format into `PointIn`s and the results back.

A batch costs a fixed handful of queries whatever its size: the plugs and properties it names
are loaded once, the points are upserted in one statement per chunk, the journal is appended in
one insert, the properties' latest values are updated in one statement.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from data.models import DataPoint, JournalEntry
from data.rollups import rollups_mark
from data.selectors import PointFilter, points_matching
from data.series_clock import SERVER_TIMES
from data.store import (
    accounts_default_retention,
    journal_append,
    plugs_named,
    points_upsert,
    properties_create,
    properties_named,
    properties_set_latest,
    record_move,
    records_named,
)
from devices import access
from devices.access import Reach, own_publisher_id
from devices.device_log import device_log_debug_lines
from devices.models import Plug, Property
from plugboard.channels import BadChannel, validate_channel
from plugboard.identifiers import is_oid, new_oids
from plugboard.live import (
    broadcast_points,
    listening_remembered,
)
from plugboard.parsers import is_json_number, json_text
from plugboard.principals import Principal
from plugboard.timestamps import MAX_MS, BadTimestamp, now_ms, parse_timestamp

log = logging.getLogger(__name__)

MISSING: Any = object()
UPSERT_CHUNK = 2_000
MAX_TTL_SECONDS = MAX_MS // 1000  # an expiry is a timestamp: before 2500


@dataclass(slots=True)
class PointIn:
    """One record as a dialect received it; fields are raw until validated here."""

    channel: Any
    data: Any = MISSING
    at: Any = None
    of: Any = None
    id: Any = None
    expire_at: Any = None
    ttl: Any = None


@dataclass(slots=True)
class PointResult:
    id: str | None = None
    status: int = 200
    code: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.id is not None


@dataclass(slots=True)
class Submission:
    """One caller's points. `property_write`: the property dialect's rule applies — a write into
    a plug's property by anyone but the plug itself is a command and needs a `public` property.
    In the channel dialect (`property_write=False`) `of` names the publisher, never a command."""

    principal: Principal
    points: Sequence[PointIn]
    property_write: bool = False
    require_zone: bool = False


@dataclass(frozen=True)
class CommandOrder:
    """A stored point that is a command to its device (SPEC §4 rule 5)."""

    account_id: str
    plug_id: str
    property: str
    value: Any
    at: int
    point_id: str
    credential: str


CommandSink = Callable[[Sequence[CommandOrder]], object]
_command_sinks: list[CommandSink] = []


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """A point the write service stored, as the apps above it see it (`of` is the plug, or the
    account's `com-` id; `command`: the point is a command to its device)."""

    account_id: str
    of: str
    channel: str
    at: int
    data: Any
    oid: str
    command: bool
    credential: str
    profile: str | None = None  # the plug's profile (alerts on a profile apply to its plugs)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What one call of the write service stored and refused, handed to every write sink."""

    source: str
    stored: Sequence[StoredPoint]
    rejected: int
    # The same counts by dialect ("channel", "property": whose rules the caller wrote under);
    # an MQTT group commit mixes both.
    accepted_by_dialect: Mapping[str, int] = field(default_factory=dict)
    rejected_by_dialect: Mapping[str, int] = field(default_factory=dict)


WriteSink = Callable[[WriteOutcome], object]
_write_sinks: list[WriteSink] = []


def command_sink_register(sink: CommandSink) -> None:
    """Have `sink` called, inside the write's transaction, with the command orders of every
    write. The commands app registers the one that persists and pushes them (its `ready()`):
    the data layer does not know who delivers commands."""
    if sink not in _command_sinks:
        _command_sinks.append(sink)


def write_sink_register(sink: WriteSink) -> None:
    """Have `sink` called, inside the write's transaction, with what every write stored (and how
    many points it refused). The apps above `data` (outbound delivery, alerts, rollups, metrics)
    plug in here from their `ready()`; what must leave with the write is written by the sink in
    the same transaction, what must wait for the commit registers `transaction.on_commit`.
    A sink must cost nothing (no query) for the points no feature of its own watches."""
    if sink not in _write_sinks:
        _write_sinks.append(sink)


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(slots=True)
class _Point:
    """A validated point on its way to the store."""

    index: int
    sub: int
    channel: str
    of: str
    at: int
    data: Any
    data_json: str
    expire_at: int | None
    modify: str | None = None
    moved_from: tuple[str, str, int] | None = None  # a modified record's (channel, of, at) before
    prop: Property | None = None
    command: bool = False
    oid: str = ""


_NO_RESULT = PointResult()


def points_write(
    *,
    principal: Principal,
    points: Sequence[PointIn],
    source: str,
    property_write: bool = False,
    require_zone: bool = False,
) -> list[PointResult]:
    """Store one caller's points; one result per point, in order."""
    sub = Submission(principal, points, property_write=property_write, require_zone=require_zone)
    return points_write_many(submissions=[sub], source=source)[0]


def points_write_many(*, submissions: Sequence[Submission], source: str) -> list[list[PointResult]]:
    """Store several callers' points in one transaction (MQTT's group commit)."""
    # The after-commit hooks (commands' consoles, the records' broadcast) run before this
    # returns, unless an outer transaction holds them: they ask the cache once per account.
    with listening_remembered():
        return _write_many(submissions, source)


def _write_many(submissions: Sequence[Submission], source: str) -> list[list[PointResult]]:
    # Each slot is replaced by the point's own result (results are never mutated).
    results = [[_NO_RESULT] * len(s.points) for s in submissions]
    now = now_ms()
    max_bytes = settings.PLUGBOARD["MAX_VALUE_BYTES"]
    parsed: list[_Point] = []
    owns: dict[int, str] = {}  # a group commit's submissions share a few principals
    for si, sub in enumerate(submissions):
        own = owns.get(id(sub.principal))
        if own is None:
            own = owns[id(sub.principal)] = own_publisher_id(sub.principal)
        account_id = sub.principal.account_id
        for pi, point in enumerate(sub.points):
            try:
                p = _parse(point, si, pi, own, now, sub.require_zone, max_bytes)
            except Rejected as exc:
                results[si][pi] = PointResult(status=exc.status, code=exc.code, message=exc.message)
                continue
            if point.at is None and p.modify is None:
                # SPEC §4 rule 1: a server-given time never collides within its series (a
                # modified record keeps its own time unless the caller names another).
                p.at = SERVER_TIMES.stamp((account_id, p.of, p.channel.lower()), now)
            parsed.append(p)
    with transaction.atomic():
        plugs, retentions = _plugs_named(parsed)
        accepted = _authorize(parsed, submissions, plugs, results)
        accepted = _apply_properties(accepted, submissions, plugs, results, now)
        _apply_default_retention(accepted, submissions, retentions)
        stored = _store(accepted, submissions, now)
        for p in stored:
            results[p.sub][p.index] = PointResult(id=p.oid)
        _mark_for_rollups(stored, submissions)
        _journal(stored, submissions, source, now)
        _update_latest(stored)
        commands = [p for p in stored if p.command]
        if commands:
            orders = [
                CommandOrder(
                    account_id=submissions[p.sub].principal.account_id,
                    plug_id=p.of,
                    property=p.channel,
                    value=p.data,
                    at=p.at,
                    point_id=p.oid,
                    credential=submissions[p.sub].principal.credential,
                )
                for p in commands
            ]
            for sink in _command_sinks:
                sink(orders)
        submitted = sum(len(s.points) for s in submissions)
        if len(stored) < submitted:  # some point was rejected
            _log_rejections(submissions, plugs, results, source)
        if _write_sinks:
            accepted_by_dialect, rejected_by_dialect = _by_dialect(submissions, stored, results)
            outcome = WriteOutcome(
                source=source,
                stored=[
                    StoredPoint(
                        account_id=submissions[p.sub].principal.account_id,
                        of=p.of,
                        channel=p.channel,
                        at=p.at,
                        data=p.data,
                        oid=p.oid,
                        command=p.command,
                        credential=submissions[p.sub].principal.credential,
                        profile=plugs[p.of].profile_id if p.of in plugs else None,
                    )
                    for p in stored
                ],
                rejected=submitted - len(stored),
                accepted_by_dialect=accepted_by_dialect,
                rejected_by_dialect=rejected_by_dialect,
            )
            for write_sink in _write_sinks:
                write_sink(outcome)
        if stored:

            def records(account_id: str) -> list[dict[str, Any]]:
                return [
                    {"id": p.oid, "channel": p.channel, "data": p.data, "at": p.at, "of": p.of}
                    for p in stored
                    if submissions[p.sub].principal.account_id == account_id
                ]

            accounts = [s.principal.account_id for s in submissions]
            transaction.on_commit(lambda: broadcast_points(accounts, records, source))
    return results


def _dialect(sub: Submission) -> str:
    return "property" if sub.property_write else "channel"


def _by_dialect(
    submissions: Sequence[Submission], stored: Sequence[_Point], results: list[list[PointResult]]
) -> tuple[dict[str, int], dict[str, int]]:
    """A write's accepted and rejected counts by dialect: by submission when they share one
    (every call but some MQTT group commits), point by point otherwise."""
    dialects = {_dialect(s) for s in submissions}
    if len(dialects) == 1:
        (only,) = dialects
        submitted = sum(len(s.points) for s in submissions)
        return {only: len(stored)}, {only: submitted - len(stored)}
    accepted = dict.fromkeys(dialects, 0)
    rejected = dict.fromkeys(dialects, 0)
    for sub, sub_results in zip(submissions, results, strict=True):
        ok = sum(1 for r in sub_results if r.ok)
        accepted[_dialect(sub)] += ok
        rejected[_dialect(sub)] += len(sub_results) - ok
    return accepted, rejected


# --- validation (no queries) ---------------------------------------------------------------------


def _parse(
    point: PointIn, si: int, pi: int, own: str, now: int, require_zone: bool, max_bytes: int
) -> _Point:
    try:
        channel = validate_channel(point.channel)
    except BadChannel as exc:
        raise Rejected(400, "BadChannel", str(exc))
    if point.data is MISSING:
        raise Rejected(400, "MissingData", "data is required")
    try:
        data_json = json_text(point.data)
    except (TypeError, ValueError):
        raise Rejected(400, "BadValue", "data is not a JSON value")
    if len(data_json) > max_bytes:
        raise Rejected(413, "ValueTooLarge", f"data is over {max_bytes} bytes")
    try:
        at = now if point.at is None else parse_timestamp(point.at, require_zone=require_zone)
        expire_at = None if point.expire_at is None else parse_timestamp(point.expire_at)
    except BadTimestamp as exc:
        raise Rejected(400, "BadTimestamp", str(exc))
    if expire_at is None and point.ttl is not None:
        # Bounded so the expiry stays a timestamp (a huge ttl would overflow the column).
        if (
            isinstance(point.ttl, bool)
            or not isinstance(point.ttl, int | float)
            or not 0 <= point.ttl <= MAX_TTL_SECONDS
        ):
            raise Rejected(400, "BadTTL", f"ttl must be a number of seconds from 0 to {MAX_TTL_SECONDS}")
        expire_at = now + int(point.ttl * 1000)
    of = own if point.of is None else point.of
    if not isinstance(of, str) or not of:
        raise Rejected(400, "BadOf", "of must be a plug id")
    modify = None
    if point.id is not None:
        if not is_oid(point.id):
            raise Rejected(400, "BadId", "id must be an OID (24 hex digits)")
        modify = point.id
    return _Point(pi, si, channel, of, at, point.data, data_json, expire_at, modify)


# --- authorization (one or two queries) ----------------------------------------------------------


def _plugs_named(points: Iterable[_Point]) -> tuple[dict[str, Plug], dict[str, int | None]]:
    """The plugs the points name, and the default retention of their accounts (`plugs_named`)."""
    return plugs_named({p.of for p in points if p.of.startswith("dev-")})


def _reject(results: list[list[PointResult]], p: _Point, status: int, code: str, message: str) -> None:
    results[p.sub][p.index] = PointResult(status=status, code=code, message=message)


def _authorize(
    points: list[_Point], subs: Sequence[Submission], plugs: dict[str, Plug], results: list[list[PointResult]]
) -> list[_Point]:
    reaches: dict[int, Reach] = {}
    # Keyed by the principal's identity: a group commit's one-point submissions share a few.
    verdicts: dict[tuple[int, str], access.Refusal | None] = {}
    modified = _records_to_modify(points, subs)
    accepted = []
    for p in points:
        principal = subs[p.sub].principal
        if p.modify:
            record = modified.get(p.modify)
            if record is None or record.account_id != principal.account_id:
                _reject(results, p, 404, "UnknownRecord", f"no record {p.modify}")
                continue
            # Modifying keeps the record's key unless the caller names another channel/time.
            p.of = record.of if subs[p.sub].points[p.index].of is None else p.of
            if subs[p.sub].points[p.index].at is None:
                p.at = record.at
            p.moved_from = (record.channel, record.of, record.at)
        # A batch mostly writes for one or a few plugs: each (caller, plug) is decided once.
        key = (id(principal), p.of)
        if key in verdicts:
            refusal = verdicts[key]
        else:
            refusal = verdicts[key] = access.write_refusal(
                principal, p.of, plugs.get(p.of), partial(_write_reach, reaches, principal)
            )
        if refusal is not None:
            _reject(results, p, *refusal)
            continue
        accepted.append(p)
    return accepted


def _write_reach(reaches: dict[int, Reach], principal: Principal) -> Reach:
    """A principal's write reach, read once for the whole batch."""
    if id(principal) not in reaches:
        reaches[id(principal)] = access.reach(principal, access.Mode.WRITE)
    return reaches[id(principal)]


def _records_to_modify(points: list[_Point], subs: Sequence[Submission]) -> dict[str, DataPoint]:
    ids = {p.modify for p in points if p.modify}
    if not ids:
        return {}
    return records_named(ids)


# --- properties (SPEC §4 rule 4) -------------------------------------------------------------


# What each property type admits (`any` admits everything).
_TYPE_ADMITS: dict[str, Callable[[Any], bool]] = {
    Property.Type.NUMBER: is_json_number,
    Property.Type.BOOLEAN: lambda value: isinstance(value, bool),
    Property.Type.STRING: lambda value: isinstance(value, str),
    Property.Type.OBJECT: lambda value: isinstance(value, dict),
    Property.Type.ARRAY: lambda value: isinstance(value, list),
}


def _value_fits(prop: Property, value: Any) -> str | None:
    """Why `value` breaks the property's type or boundaries, or None."""
    admits = _TYPE_ADMITS.get(prop.type)
    if admits is not None and not admits(value):
        return f"{prop.name} takes a {prop.type}, not {json.dumps(value)[:60]}"
    if (prop.min is not None or prop.max is not None) and is_json_number(value):
        if prop.min is not None and value < prop.min:
            return f"{value} is below the minimum {prop.min} of {prop.name}"
        if prop.max is not None and value > prop.max:
            return f"{value} is above the maximum {prop.max} of {prop.name}"
    return None


def _apply_properties(
    points: list[_Point],
    subs: Sequence[Submission],
    plugs: dict[str, Plug],
    results: list[list[PointResult]],
    now: int,
) -> list[_Point]:
    on_plugs = [p for p in points if p.of in plugs]
    if not on_plugs:
        return points
    names = {p.channel for p in on_plugs}
    # One rule for names in both dialects (docs/data-model.md): a plug's series are named
    # case-insensitively — MQTT topics carry property names in lower case, `/v3` matches them in
    # any case — so a write of either dialect goes to the plug's property of that name in any
    # case, under the spelling its first write gave it.
    folded_names = {p.channel.lower() for p in on_plugs}
    # Only what the write reads, in one plain statement (`properties_named`).
    props = properties_named({p.of for p in on_plugs}, names, folded_names)
    folded: dict[tuple[str, str], Property] = {}
    for key in sorted(props):
        folded.setdefault((key[0], key[1].lower()), props[key])
    created: dict[tuple[str, str], Property] = {}
    # What a (caller, dialect, plug, name) may do is the same for each of its points: decided
    # once (a group commit brings a thousand one-point submissions of a hundred devices).
    decided: dict[tuple[int, bool, str, str], tuple[Property | None, bool, access.Refusal | None, str]] = {}
    accepted = []
    for p in points:
        if p.of not in plugs:
            accepted.append(p)
            continue
        sub = subs[p.sub]
        decision_key = (id(sub.principal), sub.property_write, p.of, p.channel)
        decision = decided.get(decision_key)
        if decision is None:
            decision = _property_decision(sub, p.of, p.channel, props, folded, created)
            decided[decision_key] = decision
        found, own_write, refusal, p.channel = decision
        if refusal is not None:
            _reject(results, p, *refusal)
            continue
        assert found is not None  # made by `_property_decision` when it refuses nothing
        prop = found
        if reason := _value_fits(prop, p.data):
            _reject(results, p, 400, "BadValue", reason)
            continue
        if p.expire_at is None and prop.retention:
            p.expire_at = p.at + prop.retention * 1000
        p.prop = prop
        p.command = not own_write and prop.publish != Property.Publish.NEVER
        if p.command and prop.publish == Property.Publish.CHANGED and prop.last_value == p.data:
            p.command = False
        accepted.append(p)
    if created:
        fresh = properties_create(list(created.values()))
        for p in accepted:  # every point of a new property, not only the one that made it
            if (p.of, p.channel.lower()) in created:
                p.prop = fresh.get((p.of, p.channel), p.prop)
    return accepted


def _property_decision(
    sub: Submission,
    of: str,
    channel: str,
    props: dict[tuple[str, str], Property],
    folded: dict[tuple[str, str], Property],
    created: dict[tuple[str, str], Property],
) -> tuple[Property | None, bool, access.Refusal | None, str]:
    """(property, the device's own write, refusal, the property's name) of a write into
    `channel` of plug `of`, whichever case it is written in; a property the device writes first
    is made here (in `created`, by its name in lower case)."""
    own_write = access.writes_as_device(sub.principal, of, property_write=sub.property_write)
    # The exact name first: a plug that has twins differing only in case (made before names were
    # one rule) keeps writing each of them.
    prop = props.get((of, channel)) or folded.get((of, channel.lower())) or created.get((of, channel.lower()))
    if prop is not None:
        channel = prop.name
    if refusal := access.property_refusal(prop, as_device=own_write, of=of, name=channel):
        return prop, own_write, refusal, channel
    if prop is None:
        prop = created[(of, channel.lower())] = Property(plug_id=of, name=channel)
    return prop, own_write, None, channel


def _apply_default_retention(
    points: list[_Point], subs: Sequence[Submission], defaults: dict[str, int | None]
) -> None:
    """SPEC §4 rule 3, last step: a point that has no `expire_at`, no `ttl` and no property
    retention expires after its account's default retention, if the account has one.

    The accounts of the batch's plugs came with them; only the accounts of points on no plug
    (the channel dialect's own channels) are read here, once per batch.
    """
    open_ended = [p for p in points if p.expire_at is None]
    if not open_ended:
        return
    defaults = dict(defaults)
    missing = {subs[p.sub].principal.account_id for p in open_ended} - defaults.keys()
    if missing:
        defaults.update(accounts_default_retention(missing))
    for p in open_ended:
        seconds = defaults.get(subs[p.sub].principal.account_id)
        if seconds:
            p.expire_at = p.at + seconds * 1000


# --- storage ---------------------------------------------------------------------------------


def _store(points: list[_Point], subs: Sequence[Submission], now: int) -> list[_Point]:
    """Upsert on (account, channel, of, at); the OID of an existing point stays."""
    modifies = [p for p in points if p.modify]
    for p in modifies:
        # A record moved onto a key another point holds replaces that point (rule 1), instead
        # of failing on the unique key.
        assert p.modify is not None
        record_move(p.modify, subs[p.sub].principal.account_id, p.channel, p.of, p.at, p.data, p.expire_at)
        p.oid = p.modify
    inserts = [p for p in points if not p.modify]
    # Last write of a key within the batch wins; every copy reports the same OID.
    by_key: dict[tuple[str, str, str, int], _Point] = {}
    for p in inserts:
        by_key[(subs[p.sub].principal.account_id, p.channel, p.of, p.at)] = p
    rows = [
        (oid, key[0], key[1], key[2], key[3], p.data_json, p.expire_at)
        for oid, (key, p) in zip(new_oids(len(by_key)), by_key.items(), strict=True)
    ]
    oids: dict[tuple[str, str, str, int], str] = {}
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start : start + UPSERT_CHUNK]
        for oid, account_id, channel, of, at in points_upsert(chunk):
            oids[(account_id, channel, of, at)] = oid
    for p in inserts:
        p.oid = oids[(subs[p.sub].principal.account_id, p.channel, p.of, p.at)]
    return points


def _mark_for_rollups(points: list[_Point], subs: Sequence[Submission]) -> None:
    """The minutes the batch wrote into (and those a moved record left) get their rollups
    recomputed by the next refresh: one statement (data.rollups)."""
    keys = [(subs[p.sub].principal.account_id, p.channel, p.of, p.at) for p in points]
    keys += [(subs[p.sub].principal.account_id, *p.moved_from) for p in points if p.moved_from]
    rollups_mark(keys)


def _journal(points: list[_Point], subs: Sequence[Submission], source: str, now: int) -> None:
    """Append every accepted write to the journal."""
    data = JournalEntry.Event.DATA.value  # an enum member's value is a property call: once
    principals = [s.principal for s in subs]
    rows = [
        (
            principals[p.sub].account_id,
            now,
            data,
            source,
            principals[p.sub].credential,
            p.oid,
            p.channel,
            p.of,
            p.at,
            p.data_json,
            p.expire_at,
        )
        for p in points
    ]
    journal_append(rows, [p.data for p in points])


def _update_latest(points: list[_Point]) -> None:
    """Each touched property's latest value/time, if the batch holds a newer point."""
    newest: dict[Any, _Point] = {}
    for p in points:
        if p.prop is None or p.prop.id is None:
            continue
        best = newest.get(p.prop.id)
        if best is None or p.at >= best.at:
            newest[p.prop.id] = p
    changed = [
        p
        for p in newest.values()
        if p.prop is not None and (p.prop.last_at is None or p.at >= p.prop.last_at)
    ]
    if not changed:
        return
    for p in changed:
        assert p.prop is not None
        p.prop.last_value, p.prop.last_at = p.data, p.at
    properties_set_latest([(p.prop.id if p.prop else "", p.data_json, p.at) for p in changed])


def _log_rejections(
    subs: Sequence[Submission], plugs: dict[str, Plug], results: list[list[PointResult]], source: str
) -> None:
    """Rejections of points aimed at a plug in debug status go to its device log."""
    failed = []
    for sub, sub_results in zip(subs, results, strict=True):
        for point, result in zip(sub.points, sub_results, strict=True):
            if not result.ok:
                target = point.of if isinstance(point.of, str) else own_publisher_id(sub.principal)
                failed.append((target, str(point.channel or "")[:200], result.code, result.message))
    if failed:
        device_log_debug_lines(plugs=plugs, lines=failed, source=source)


# --- removal (channel dialect's DELETE data) -------------------------------------------------

DELETE_CHUNK = 2_000  # ids per DELETE … WHERE id IN (…), like UPSERT_CHUNK's rows


def points_delete(*, principal: Principal, filters: PointFilter, source: str = "http") -> int:
    """Remove the live points matching `filters` that the caller may write; journal each
    removal (event `delete`); return how many were removed."""
    now = now_ms()
    with transaction.atomic():
        rows = list(
            points_matching(principal=principal, filters=filters, mode=access.Mode.WRITE)
            .select_for_update()
            .values_list("id", "channel", "of", "at", "data", "expire_at")
        )
        removed = 0
        rollups_mark((principal.account_id, channel, of, at) for _, channel, of, at, _, _ in rows)
        for start in range(0, len(rows), DELETE_CHUNK):
            chunk = [row[0] for row in rows[start : start + DELETE_CHUNK]]
            removed += DataPoint.objects.filter(id__in=chunk).delete()[0]
        journal_append(
            [
                (
                    principal.account_id,
                    now,
                    JournalEntry.Event.DELETE.value,
                    source,
                    principal.credential,
                    oid,
                    channel,
                    of,
                    at,
                    json.dumps(data),
                    expire_at,
                )
                for oid, channel, of, at, data, expire_at in rows
            ],
            [row[4] for row in rows],
        )
    return removed
