"""The console's reads, in the shapes its pages draw: pages of plugs, a plug's properties with
their live latest values, journal, device log and commands, newest first, and the account's keys.

Every read starts from the signed-in account (`Principal.account_id`), so another account's
rows are never in the result. Pages are keyset pages (`…_after` / `before` cursors) of
PAGE + 1 rows: whether a next page exists is known without a COUNT over everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Count, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, Collate

from alerts.selectors import OPEN, incidents_of
from commands.models import Command
from commands.selectors import commands_of
from data.models import JournalEntry
from data.property_reads import plug_journal, properties_with_latest, property_points
from devices.models import DeviceLogEntry, Plug, Property
from devices.selectors import device_log_of, plugs_of_account
from plugboard.models import Account, ApiKey
from plugboard.principals import Principal

PAGE = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    more: bool  # a next page exists


def _page(rows: QuerySet[Any], size: int) -> Page[Any]:
    items = list(rows[: size + 1])
    return Page(items[:size], len(items) > size)


# --- plugs -------------------------------------------------------------------------------------


def plugs_page(*, principal: Principal, query: str = "", after: tuple[str, str] | None = None) -> Page[Plug]:
    """Plugs of the account by name (then id), PAGE at a time after the `(name, id)` cursor;
    `query` matches a part of the name or hwid, or the start of the id."""
    rows = plugs_of_account(principal=principal)
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(hwid__icontains=query) | Q(id__startswith=query))
    if after is not None:
        name, plug_id = after
        # `name >= cursor` first: the (account, name, id) index then starts at the cursor
        # instead of filtering every earlier row (the OR alone is no index range).
        rows = rows.filter(Q(name__gte=name), Q(name__gt=name) | Q(name=name, id__gt=plug_id))
    rows = rows.order_by("name", "id").only(
        "id", "name", "kind", "status", "hwid", "connected", "transport", "last_seen"
    )
    return _page(rows, PAGE)


def plug_of_account(*, principal: Principal, plug_id: str) -> Plug | None:
    """The account's plug with this id (None: no such plug, or another account's)."""
    return plugs_of_account(principal=principal).filter(id=plug_id).first()


@dataclass(frozen=True)
class PropertyView:
    prop: Property
    value: Any
    at: int | None  # ms of the newest unexpired point; None: none left


def plug_properties(*, plug: Plug) -> list[PropertyView]:
    """Every property of the plug with the value and time of its newest unexpired point (one
    query; `Property.last_value` alone may name a point that expired)."""
    return [PropertyView(p, p.live_value, p.live_at) for p in properties_with_latest(plug=plug)]


def plug_property(*, plug: Plug, prop_id: str) -> Property | None:
    return Property.objects.filter(plug=plug, id=prop_id).first()


def plug_journal_page(*, plug: Plug, before: int | None = None, size: int = 20) -> Page[JournalEntry]:
    rows = plug_journal(plug=plug)  # newest first
    if before is not None:
        rows = rows.filter(id__lt=before)
    return _page(rows, size)


def plug_log_page(*, plug: Plug, before: int | None = None, size: int = 20) -> Page[DeviceLogEntry]:
    rows = device_log_of(plug=plug)  # newest first
    if before is not None:
        rows = rows.filter(id__lt=before)
    return _page(rows, size)


def plug_commands(*, plug: Plug, size: int = 20) -> list[Command]:
    """The plug's latest commands, newest first."""
    return list(commands_of(plug=plug)[:size])


def property_series_size(*, plug: Plug, channel: str, start: int, end: int, bound: int) -> int:
    """How many points of the property lie in `start..end`, counting no further than `bound`."""
    points = property_points(plug=plug, channel=channel, start=start, end=end)
    return points.values("id")[:bound].count()


# --- home: the fleet at a glance ------------------------------------------------------------------

# A plug neither connected nor heard from for this long counts as inactive on the home page.
INACTIVE_AFTER = timedelta(days=1)
RATE_WINDOW_MS = 60_000  # points per minute: the journal's data entries of the last minute
BUSIEST = 5
REJECTIONS = 8


@dataclass(frozen=True)
class Busy:
    plug_id: str
    name: str
    points: int  # in the last minute


@dataclass(frozen=True)
class Rejection:
    id: int
    plug_id: str
    plug_name: str
    at: datetime
    source: str
    property: str
    code: str
    message: str


@dataclass(frozen=True)
class FleetSummary:
    devices: int
    connected: int
    inactive: int  # neither connected nor seen within INACTIVE_AFTER (never seen included)
    points_per_minute: int
    commands_pending: int  # pending or sent, not yet acknowledged
    incidents_open: int  # active or acknowledged, not cleared (SPEC §12)
    busiest: list[Busy]
    rejections: list[Rejection]

    def as_message(self) -> dict[str, Any]:
        """The summary as the home page's live message carries it (times in ms since the epoch)."""
        return {
            "devices": self.devices,
            "connected": self.connected,
            "inactive": self.inactive,
            "points_per_minute": self.points_per_minute,
            "commands_pending": self.commands_pending,
            "incidents_open": self.incidents_open,
            "busiest": [{"plug": b.plug_id, "name": b.name, "points": b.points} for b in self.busiest],
            "rejections": [
                {
                    "id": r.id,
                    "plug": r.plug_id,
                    "name": r.plug_name,
                    "at": int(r.at.timestamp() * 1000),
                    "source": r.source,
                    "property": r.property,
                    "code": r.code,
                    "message": r.message,
                }
                for r in self.rejections
            ],
        }


class _Counted(Subquery):
    """`(SELECT COUNT(*) FROM (rows))`: a count as one column of a bigger query (0 when none)."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) counted)"
    output_field = IntegerField()

    def __init__(self, rows: QuerySet[Any]) -> None:
        super().__init__(rows.order_by().values("pk"))  # no ORDER BY: nothing to sort for a count


class _Total(Func):
    """`SUM(COUNT(…)) OVER ()`: the groups' counts added up beside each group (Django's `Sum`
    refuses an aggregate inside it)."""

    function = "SUM"
    window_compatible = True
    output_field = IntegerField()


def fleet_summary(*, principal: Principal, now: int) -> FleetSummary:
    """The home page's numbers for the account at `now` (ms) in three queries whatever the
    fleet's size: the counts (one row of scalar sub-queries, each an index-only count: plugs
    by `plug_presence`, commands by `command_open`, incidents by `incident_list`), the last
    minute's points per device with their total and the busiest devices' names (one pass over
    the journal's last minute), and the last rejections."""
    account = principal.account_id
    plugs = plugs_of_account(principal=principal)
    since = datetime.fromtimestamp(now / 1000, tz=UTC) - INACTIVE_AFTER
    open_commands = Command.objects.filter(
        account_id=account, state__in=(Command.State.PENDING, Command.State.SENT)
    )
    counts = (
        Account.objects.filter(id=account)
        .values(
            n_devices=_Counted(plugs),
            n_connected=_Counted(plugs.filter(connected=True)),
            n_inactive=_Counted(
                plugs.filter(Q(connected=False) & (Q(last_seen__isnull=True) | Q(last_seen__lt=since)))
            ),
            n_pending=_Counted(open_commands),
            n_incidents=_Counted(incidents_of(principal=principal, status=OPEN)),
        )
        .get()
    )
    # The journal's last minute, once: each device's count and (window) all of them together.
    # A record published as the account's own id has no plug: its name is that id.
    recent = JournalEntry.objects.filter(
        account_id=account, event=JournalEntry.Event.DATA, received_at__gte=now - RATE_WINDOW_MS
    )
    of: Any = OuterRef("of")
    if connection.vendor == "postgresql":  # the journal's `of` is byte-ordered ("C"): compare in
        of = Collate(of, "default")  # the plug id's collation, so its primary key finds the name
    name = plugs_of_account(principal=principal).filter(id=of).order_by().values("name")[:1]
    top = list(
        recent.values("of")
        .annotate(n=Count("id"))
        .annotate(total=Window(_Total(Count("id"))), name=Subquery(name))
        .order_by("-n", "of")
        .values_list("of", "n", "total", "name")[:BUSIEST]
    )
    log = DeviceLogEntry.objects.filter(plug__account_id=account).order_by("-id")
    rows = log.values_list("id", "plug_id", "plug__name", "at", "source", "property", "code", "message")
    return FleetSummary(
        devices=counts["n_devices"],
        connected=counts["n_connected"],
        inactive=counts["n_inactive"],
        points_per_minute=int(top[0][2]) if top else 0,
        commands_pending=counts["n_pending"],
        incidents_open=counts["n_incidents"],
        busiest=[Busy(plug_id, name or plug_id, n) for plug_id, n, _, name in top],
        rejections=[Rejection(*row) for row in rows[:REJECTIONS]],
    )


# --- accounts (staff only) ------------------------------------------------------------------------


def accounts_page(*, query: str = "", after: str | None = None) -> Page[Account]:
    """Active accounts by email (by id for a sub-account without one), PAGE at a time after the
    `account_cursor` given, for the staff's account picker (the caller is a staff user:
    `devices.access.may_open_any_account`)."""
    rows = Account.objects.filter(is_active=True).annotate(cursor=Coalesce("email", "id"))
    if query:
        rows = rows.filter(Q(email__icontains=query) | Q(name__icontains=query) | Q(id__startswith=query))
    if after:
        rows = rows.filter(cursor__gt=after)
    return _page(rows.order_by("cursor").only("id", "email", "name"), PAGE)


def account_cursor(account: Account) -> str:
    """Where `accounts_page` goes on after `account`."""
    return account.email or account.id


# --- keys ---------------------------------------------------------------------------------------


def keys_of_account(*, principal: Principal) -> list[ApiKey]:
    """The account's user and API client keys, newest first (device keys: `device_keys_page`)."""
    rows = ApiKey.objects.filter(account_id=principal.account_id).exclude(kind=ApiKey.Kind.DEVICE)
    return list(rows.select_related("plug").order_by("-date_created", "id"))


def device_keys_page(*, principal: Principal, after: str | None = None) -> Page[ApiKey]:
    """The account's device keys by id, PAGE at a time (an account may have thousands)."""
    rows = ApiKey.objects.filter(account_id=principal.account_id, kind=ApiKey.Kind.DEVICE)
    if after:
        rows = rows.filter(id__gt=after)
    return _page(rows.select_related("plug").order_by("id"), PAGE)


def key_of_account(*, principal: Principal, key_id: str) -> ApiKey | None:
    return ApiKey.objects.filter(account_id=principal.account_id, id=key_id).first()


def plugs_by_id(*, principal: Principal, ids: list[str]) -> dict[str, Plug]:
    """The account's plugs among `ids` (a key's context), by id."""
    return {p.id: p for p in plugs_of_account(principal=principal).filter(id__in=ids)}
