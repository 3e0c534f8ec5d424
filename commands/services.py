"""Commands: created by the write service, pushed to devices over MQTT (SPEC §4 rule 5, §7)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from commands.models import Command, MqttSession
from data.models import JournalEntry
from data.services import CommandOrder
from devices.models import Plug
from plugboard.live import Kind, console_group, group_send, plug_group, someone_listens
from plugboard.timestamps import now_ms

log = logging.getLogger(__name__)


def command_message(command: Command) -> dict[str, Any]:
    return {"id": command.id, "property": command.property, "value": command.value, "at": command.at}


def commands_create(*, orders: Sequence[CommandOrder]) -> list[Command]:
    """Persist commands and, once the transaction commits, push them to connected devices."""
    expire_at = now_ms() + settings.PLUGBOARD["COMMAND_TTL_SECONDS"] * 1000
    commands = Command.objects.bulk_create(
        Command(
            account_id=o.account_id,
            plug_id=o.plug_id,
            property=o.property,
            value=o.value,
            at=o.at,
            point_id=o.point_id,
            credential=o.credential,
            expire_at=expire_at,
        )
        for o in orders
    )
    by_plug: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for command in commands:
        by_plug[command.plug_id].append(command_message(command))
    transaction.on_commit(lambda: _push(by_plug))
    transaction.on_commit(lambda: _tell_consoles([command_state(c) for c in commands]))
    return commands


def _push(by_plug: dict[str, list[dict[str, Any]]]) -> None:
    # A failed push leaves the command pending: it is delivered on the next subscribe.
    for plug_id, items in by_plug.items():
        group_send(Kind.COMMANDS_PUSH, plug_group(plug_id), plug=plug_id, commands=items)


def commands_pending(*, plug_id: str) -> list[dict[str, Any]]:
    """Undelivered, unexpired commands of a plug, oldest first."""
    rows = Command.objects.filter(
        plug_id=plug_id, state__in=[Command.State.PENDING, Command.State.SENT], expire_at__gt=now_ms()
    ).order_by("created_at")
    return [command_message(c) for c in rows]


def commands_stalled(*, plug_ids: Sequence[str], older_than_ms: int) -> dict[str, list[dict[str, Any]]]:
    """Pending (never sent), unexpired commands of these plugs created more than
    `older_than_ms` ago, oldest first, by plug: their live push was lost (the channel layer
    was down when they were written, or the connection's window was full). The MQTT command
    sweep hands them to the plugs' connections; the grace spares the ones a push is about to
    deliver."""
    if not plug_ids:
        return {}
    before = timezone.now() - timedelta(milliseconds=older_than_ms)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    left = SWEEP_LIMIT
    for start in range(0, len(plug_ids), 1_000):  # bounded IN lists (SQLite's variable limit)
        rows = Command.objects.filter(
            plug_id__in=plug_ids[start : start + 1_000],
            state=Command.State.PENDING,
            created_at__lt=before,
            expire_at__gt=now_ms(),
        ).order_by("created_at")[:left]
        for command in rows:
            found[command.plug_id].append(command_message(command))
            left -= 1
        if left <= 0:
            break
    return dict(found)


SWEEP_LIMIT = 5_000  # commands one sweep hands out at most; the next sweep takes the rest


def commands_mark(*, ids: Sequence[str], state: str, account_id: str | None = None) -> int:
    """Move commands forward (pending → sent → acked); never backwards. Open console pages of
    the account hear of the change once it commits. `account_id`, when the caller knows it
    (every MQTT delivery does), spares the look-up of the commands when nobody listens."""
    if not ids:
        return 0
    now = timezone.now()
    rows = Command.objects.filter(id__in=ids)
    if state == Command.State.SENT:
        changed = rows.filter(state=Command.State.PENDING).update(state=state, sent_at=now)
    elif state == Command.State.ACKED:
        # An ack can be the first mark written (the `sent` one merged into it): stamp both.
        changed = rows.exclude(state=Command.State.ACKED).update(
            state=state, acked_at=now, sent_at=Coalesce("sent_at", Value(now))
        )
    else:
        changed = rows.update(state=state)
    if changed and (account_id is None or someone_listens(account_id)):
        transaction.on_commit(lambda: _tell_consoles_of(ids))
    return changed


def command_state(command: Command) -> dict[str, Any]:
    """A command as a console page shows it live."""
    return {
        "id": command.id,
        "plug": command.plug_id,
        "account": command.account_id,
        "property": command.property,
        "value": command.value,
        "state": command.state,
    }


def _tell_consoles(states: list[dict[str, Any]]) -> None:
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in states:
        by_account[item["account"]].append(item)
    for account_id, items in by_account.items():
        if someone_listens(account_id):
            group_send(Kind.COMMANDS_STATE, console_group(account_id), commands=items)


def _tell_consoles_of(ids: Sequence[str]) -> None:
    # The ids alone name no account: one look-up by primary key, after the change committed.
    _tell_consoles([command_state(c) for c in Command.objects.filter(id__in=ids)])


def commands_for_subscriber(*, plug_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What a device gets when it subscribes to its commands: the undelivered ones, and for
    each other property the latest command value as a retained message, until that command
    expires (SPEC §7): an expired latest command leaves its property with no retained value, not
    an older command's."""
    pending = commands_pending(plug_id=plug_id)
    waiting = {c["property"] for c in pending}
    latest: dict[str, Command] = {}
    rows = Command.objects.filter(plug_id=plug_id).exclude(property__in=waiting).order_by("-created_at")
    for command in rows[:500]:
        latest.setdefault(command.property, command)
    now = now_ms()
    return pending, [command_message(c) for c in latest.values() if c.expire_at > now]


# --- MQTT connection state and persistent sessions ---------------------------------------------


def plug_connection_changed(
    *, plug_id: str, account_id: str, connected: bool, transport: str, credential: str
) -> None:
    """Connection state on the plug, and a connect/disconnect entry in the journal."""
    seen = timezone.now()
    with transaction.atomic():
        Plug.objects.filter(id=plug_id).update(
            connected=connected, last_seen=seen, transport=transport if connected else ""
        )
        JournalEntry.objects.create(
            account_id=account_id,
            received_at=now_ms(),
            event=JournalEntry.Event.CONNECT if connected else JournalEntry.Event.DISCONNECT,
            source=transport,
            credential=credential,
            of=plug_id,
        )
        if someone_listens(account_id):
            state = {
                "plug": plug_id,
                "connected": connected,
                "transport": transport if connected else "",
                "last_seen": int(seen.timestamp() * 1000),
            }
            transaction.on_commit(
                lambda: group_send(Kind.PLUG_CONNECTION, console_group(account_id), **state)
            )


def mqtt_session_open(
    *, account_id: str, client_id: str, plug_id: str | None, clean: bool
) -> dict[str, int] | None:
    """The kept subscriptions of a clean-session-0 client (None: no session present).

    Sessions belong to an account (SPEC §7): only the account's own session of that client id
    is resumed or, for a clean session, discarded.
    """
    mine = MqttSession.objects.filter(account_id=account_id, client_id=client_id)
    if clean:
        mine.delete()
        return None
    session = mine.filter(plug_id=plug_id).first()
    if session is None:
        MqttSession.objects.update_or_create(
            account_id=account_id, client_id=client_id, defaults={"plug_id": plug_id, "subscriptions": {}}
        )
        return None
    return dict(session.subscriptions)


def mqtt_session_save(
    *, account_id: str, client_id: str, plug_id: str | None, subscriptions: dict[str, int]
) -> None:
    """Keep a clean-session-0 client's subscriptions for its next CONNECT."""
    MqttSession.objects.update_or_create(
        account_id=account_id,
        client_id=client_id,
        defaults={"plug_id": plug_id, "subscriptions": subscriptions},
    )
