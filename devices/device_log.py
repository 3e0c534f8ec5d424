"""A plug's device log (SPEC §9): the lines written to it, and the open consoles told of them.

Written by the write service (the points it refused of a plug in debug status), the MQTT
endpoint (a connection closed for a protocol violation) and the alerts app (incidents, always).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction

from devices.models import DeviceLogEntry, Plug
from plugboard.live import Kind, console_group, group_send, someone_listens
from plugboard.timestamps import now_ms


def device_log(*, plug_id: str, source: str, code: str, message: str, prop: str = "") -> None:
    """Write one line to a plug's device log if the plug is in debug status."""
    account_id = Plug.objects.filter(id=plug_id, status=Plug.Status.DEBUG).values_list(
        "account_id", flat=True
    )
    owner = account_id.first()
    if owner is not None:
        entry = DeviceLogEntry.objects.create(
            plug_id=plug_id, source=source, property=prop, code=code, message=message
        )
        _tell_consoles_of_log([(owner, entry)])


def device_log_append(
    *, account_id: str, plug_id: str, source: str, code: str, message: str, prop: str = ""
) -> None:
    """Write one line to a plug's device log whatever its status (what an operator must always
    see there, such as an alert's incidents), inside the caller's transaction."""
    entry = DeviceLogEntry.objects.create(
        plug_id=plug_id, source=source, property=prop[:200], code=code[:40], message=message
    )
    _tell_consoles_of_log([(account_id, entry)])


def device_log_debug_lines(
    *, plugs: dict[str, Plug], lines: Sequence[tuple[str, str, str, str]], source: str
) -> None:
    """Write (plug id, property, code, message) lines, in one insert, to the device logs of
    those plugs in debug status (`plugs`: those already read; the others are read here)."""
    unknown = {t for t, _, _, _ in lines if t.startswith("dev-") and t not in plugs}
    if unknown:
        known = Plug.objects.filter(id__in=unknown).only("id", "account_id", "status")
        plugs = {**plugs, **{p.id: p for p in known}}
    entries = [
        DeviceLogEntry(plug_id=target, source=source, property=prop, code=code, message=message)
        for target, prop, code, message in lines
        if target in plugs and plugs[target].status == Plug.Status.DEBUG
    ]
    if entries:
        DeviceLogEntry.objects.bulk_create(entries)
        _tell_consoles_of_log([(plugs[e.plug_id].account_id, e) for e in entries])


def _tell_consoles_of_log(entries: Sequence[tuple[str, DeviceLogEntry]]) -> None:
    """Open console pages of the accounts hear of new device log lines once they commit (only
    accounts someone listens to: nothing is built or sent otherwise)."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for account_id, e in entries:
        by_account.setdefault(account_id, []).append(
            {
                "id": e.id,
                "plug": e.plug_id,
                "at": int(e.at.timestamp() * 1000) if e.at else now_ms(),
                "source": e.source,
                "property": e.property,
                "code": e.code,
                "message": e.message,
            }
        )
    for account_id, items in by_account.items():
        if someone_listens(account_id):
            send = partial(group_send, Kind.DEVICE_LOG, console_group(account_id), entries=items)
            transaction.on_commit(send)
