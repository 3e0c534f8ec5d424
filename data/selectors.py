"""Reads of the one data model (SPEC §4, §5): data points and channel names by mask and filters.

Every read is limited to the caller's account, to the plugs it may reach (`devices.access`) and
to points that have not expired, whether or not the purge has removed them yet. Masks are
evaluated in the database: a regular expression for correctness plus a literal prefix so the
`(account_id, channel, -at)` index narrows the scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from data.models import DataPoint
from devices import access
from plugboard.channels import mask_is_literal, mask_prefix, mask_regex
from plugboard.principals import Principal
from plugboard.timestamps import now_ms

# A read without `limit` returns at most this many items; `limit=0` lifts the bound (SPEC §5).
DEFAULT_LIMIT = 1000

POINT_FIELDS = ("id", "channel", "data", "at", "of", "expire_at")


@dataclass(frozen=True)
class PointFilter:
    """The channel dialect's filters, already parsed.

    `before`/`after` are either ms (compared with the point's `at`) or an OID (compared with
    the point's id, whose first 8 hex digits are its creation seconds). Both are strict.
    """

    mask: str = "#"
    ids: Sequence[str] = ()
    before: int | str | None = None
    after: int | str | None = None
    at: Sequence[int] = ()
    of: Sequence[str] = ()


def channel_q(mask: str) -> Q:
    """Channels matching a (validated) mask, as a database condition."""
    if mask_is_literal(mask):
        return Q(channel=mask)
    if mask == "#":
        return Q()
    # The regex decides; the prefix only lets the index narrow the rows it runs on. (SQLite's
    # LIKE ignores case, so the prefix alone would never be enough there.)
    condition = Q(channel__regex=mask_regex(mask))
    prefix = mask_prefix(mask)
    if prefix:
        condition &= Q(channel__startswith=prefix)
    return condition


def _bound_q(name: str, bound: int | str) -> Q:
    op = "lt" if name == "before" else "gt"
    if isinstance(bound, str):
        return Q(**{f"id__{op}": bound})
    return Q(**{f"at__{op}": bound})


def points_matching(
    *, principal: Principal, filters: PointFilter, mode: access.Mode = access.Mode.READ
) -> QuerySet[DataPoint]:
    """The live points of the caller's account that match `filters` and that it may read or
    write."""
    rows = DataPoint.objects.filter(account_id=principal.account_id).filter(
        Q(expire_at__isnull=True) | Q(expire_at__gt=now_ms())
    )
    allowed = access.reach(principal, mode)
    if not allowed.everything:
        rows = rows.filter(of__in=allowed.ids)
    elif mode == access.Mode.WRITE and not access.may_publish_as_account(principal):
        # Only the account publishes as its own id, so only it removes those.
        rows = rows.exclude(of=principal.account_id)
    rows = rows.filter(channel_q(filters.mask))
    if filters.ids:
        rows = rows.filter(id__in=list(filters.ids))
    if filters.before is not None:
        rows = rows.filter(_bound_q("before", filters.before))
    if filters.after is not None:
        rows = rows.filter(_bound_q("after", filters.after))
    if filters.at:
        rows = rows.filter(at__in=list(filters.at))
    if filters.of:
        rows = rows.filter(of__in=list(filters.of))
    return rows


def _window(rows: QuerySet[Any], offset: int, limit: int) -> QuerySet[Any]:
    if limit:
        return rows[offset : offset + limit]
    return rows[offset:] if offset else rows


def points_read(
    *, principal: Principal, filters: PointFilter, offset: int = 0, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """Matching points, newest first (`at` desc, then id desc); `limit=0` means no limit."""
    rows = points_matching(principal=principal, filters=filters).order_by("-at", "-id").values(*POINT_FIELDS)
    return list(_window(rows, offset, limit))


def channels_read(
    *, principal: Principal, filters: PointFilter, offset: int = 0, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """Distinct names of the channels holding matching points, in alphabetical order."""
    rows = (
        points_matching(principal=principal, filters=filters)
        .order_by("channel")
        .values_list("channel", flat=True)
        .distinct()
    )
    return list(_window(rows, offset, limit))
