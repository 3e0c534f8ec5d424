"""The console's live parts: one WebSocket per page at /console/live/ (an account-wide page) or
/console/live/{plug id} (a plug's page).

Authenticated by the Django session the page was served with; a socket without a signed-in
account, or naming another account's plug, is refused before the handshake completes. It is
fed only by the group messages the platform already sends after commit (`plugboard.live`):
data points on the account's group, connection and command state on its console group. It
never touches the ORM itself: the session and plug checks run through `database_sync_to_async`.

Messages to the browser are JSON: `{"kind": "points", "records": [...]}`, `{"kind":
"connection", "plug", "connected", "transport", "last_seen"}`, `{"kind": "commands",
"commands": [{id, plug, property, value, state}]}`, `{"kind": "log", "entries": [{id, plug,
at, source, property, code, message}]}` (device log lines), `{"kind": "incident", "incident":
{id, alertId, alertName, deviceId, severity, status, …}}` (an alert's incident changed). A
plug's page gets, as soon as its socket opens, the current state of the commands it shows: a
change between the page's render and the socket's opening (a device acks in milliseconds) would
otherwise be missed.

The home page's socket (/console/live/home) gets `{"kind": "home", ...FleetSummary}` when it
opens and every HOME_SECONDS after, read by `selectors.fleet_summary` (a fixed handful of
queries, so a thousand open home pages cost a thousand such reads per period, whatever the
fleet), and sooner (at most once a second) after a connection or command change: those are
the numbers an operator watches move. Points written also arrive as `points` messages, as on
any account-wide page.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from plugboard.console import selectors
from plugboard.console.session import session_principal
from plugboard.live import LISTENING_SECONDS, account_group, console_group, mark_listening
from plugboard.principals import Principal
from plugboard.timestamps import now_ms

REFUSED = 4403
HOME_SECONDS = 5.0
HOME_SOONEST = 1.0  # a burst of connection changes refreshes the home page once a second at most


def _commands_now(principal: Principal, plug_id: str) -> list[dict[str, Any]]:
    """The state of the commands a plug's page shows (its latest), as the live messages carry it."""
    plug = selectors.plug_of_account(principal=principal, plug_id=plug_id)
    if plug is None:
        return []
    keys = ("id", "plug_id", "property", "value", "state")
    return [
        {"plug" if k == "plug_id" else k: getattr(c, k) for k in keys}
        for c in selectors.plug_commands(plug=plug)
    ]


def _home_now(principal: Principal) -> dict[str, Any]:
    return {"kind": "home", **selectors.fleet_summary(principal=principal, now=now_ms()).as_message()}


def _watchable(session: Any, plug_id: str | None) -> Principal | None:
    """The signed-in account, if it may watch the page (its own plug, when one is named)."""
    principal = session_principal(session)
    if principal is None or plug_id is None:
        return principal
    return principal if selectors.plug_of_account(principal=principal, plug_id=plug_id) else None


class ConsoleLiveConsumer(AsyncJsonWebsocketConsumer):
    plug_id: str | None = None
    groups_joined: tuple[str, ...] = ()
    listening: asyncio.Task[None] | None = None
    home: asyncio.Task[None] | None = None
    home_due: asyncio.Event | None = None

    async def connect(self) -> None:
        self.plug_id = self.scope["url_route"]["kwargs"].get("plug_id")
        is_home = self.scope["url_route"]["kwargs"].get("page") == "home"
        principal = await database_sync_to_async(_watchable)(self.scope.get("session") or {}, self.plug_id)
        if principal is None:
            await self.close(code=REFUSED)
            return
        self.groups_joined = (account_group(principal.account_id), console_group(principal.account_id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await mark_listening(principal.account_id)
        self.listening = asyncio.get_running_loop().create_task(self._keep_listening(principal.account_id))
        await self.accept()
        if self.plug_id is not None:  # after joining the groups: nothing falls between the two
            now = await database_sync_to_async(_commands_now)(principal, self.plug_id)
            if now:
                await self.send_json({"kind": "commands", "commands": now})
        if is_home:
            self.home_due = asyncio.Event()
            self.home = asyncio.get_running_loop().create_task(self._keep_home(principal))

    async def _keep_home(self, principal: Principal) -> None:
        """The home page's numbers now, then every HOME_SECONDS or sooner when something moved."""
        assert self.home_due is not None
        while True:
            await self.send_json(await database_sync_to_async(_home_now)(principal))
            self.home_due.clear()
            await asyncio.sleep(HOME_SOONEST)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.home_due.wait(), HOME_SECONDS - HOME_SOONEST)

    def _home_moved(self) -> None:
        if self.home_due is not None:
            self.home_due.set()

    async def _keep_listening(self, account_id: str) -> None:
        """Writers build live records only for accounts marked lately: keep marking while open."""
        while True:
            await asyncio.sleep(LISTENING_SECONDS / 2)
            await mark_listening(account_id)

    async def disconnect(self, code: int) -> None:
        for task in (self.listening, self.home):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page sends nothing; whatever it sends is ignored."""

    # --- group messages (plugboard.live.Kind) ---------------------------------------------------

    async def data_points(self, event: dict[str, Any]) -> None:
        records = event.get("records") or []
        if self.plug_id is not None:
            records = [r for r in records if r.get("of") == self.plug_id]
        if records:
            # The write's journal source rides beside the records (they are the channel
            # dialect's record shape, which MQTT subscribers receive as they are).
            await self.send_json({"kind": "points", "source": event.get("source"), "records": records})

    async def plug_connection(self, event: dict[str, Any]) -> None:
        self._home_moved()
        if self.plug_id is None or event.get("plug") == self.plug_id:
            body = {k: event.get(k) for k in ("plug", "connected", "transport", "last_seen")}
            await self.send_json({"kind": "connection", **body})

    async def device_log(self, event: dict[str, Any]) -> None:
        entries = [e for e in event.get("entries") or [] if self.plug_id in (None, e.get("plug"))]
        if entries:
            keys = ("id", "plug", "at", "source", "property", "code", "message")
            await self.send_json({"kind": "log", "entries": [{k: e.get(k) for k in keys} for e in entries]})

    async def alerts_incident(self, event: dict[str, Any]) -> None:
        """An incident opened, escalated, was acknowledged or cleared (SPEC §12)."""
        incident = event.get("incident") or {}
        if self.plug_id in (None, incident.get("deviceId")):
            await self.send_json({"kind": "incident", "incident": incident})

    async def commands_state(self, event: dict[str, Any]) -> None:
        self._home_moved()
        commands = [c for c in event.get("commands") or [] if self.plug_id in (None, c.get("plug"))]
        if commands:
            shown = [{k: c.get(k) for k in ("id", "plug", "property", "value", "state")} for c in commands]
            await self.send_json({"kind": "commands", "commands": shown})
