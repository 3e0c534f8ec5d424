"""What every `/v3/` view shares: the `{acc}` prefix, page shape, ISO dates (SPEC §6)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import QuerySet
from rest_framework.request import Request

from plugboard.errors import ApiError
from plugboard.parsers import MAX_INT
from plugboard.views import PlatformView

T = TypeVar("T")
MAX_PAGE_SIZE = 1000
# Bounded so the skip (pageNo - 1) × pageSize fits the database's OFFSET (a signed 64-bit integer).
MAX_PAGE_NO = MAX_INT


class PropertyDialectView(PlatformView):
    """Base of `/v3/…` views; the same view serves `/v3/accounts/{acc}/…`.

    `{acc}` must be the id of the account the caller acts in, or `_this_`; anything else is a
    404, so another account's id reveals nothing. A parent acting in its sub-account already
    acts there when the view runs (authentication resolves `{acc}`: `plugboard.authentication`).
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        acc = self.kwargs.pop("acc", None)
        if acc is not None and not self.principal.names_own_account(acc):
            raise ApiError(404, f"no account {acc}")


def iso_date(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_params(request: Request, default_size: int = 25) -> tuple[int, int]:
    """`pageSize` and `pageNo` (1-based) from the query string, bounded."""
    try:
        size = int(request.query_params.get("pageSize", default_size))
        number = int(request.query_params.get("pageNo", 1))
    except ValueError:
        raise ApiError(400, "pageSize and pageNo must be integers")
    if not 1 <= size <= MAX_PAGE_SIZE or not 1 <= number <= MAX_PAGE_NO:
        raise ApiError(400, f"pageSize must be 1..{MAX_PAGE_SIZE} and pageNo 1..{MAX_PAGE_NO}")
    return size, number


def page(
    request: Request, rows: QuerySet[Any] | list[Any], serialize: Callable[[Any], T], default_size: int = 25
) -> dict[str, Any]:
    """`{total, itemCount, numOfPages, pageNo, skip, results}`."""
    size, number = page_params(request, default_size)
    total = rows.count() if isinstance(rows, QuerySet) else len(rows)
    skip = (number - 1) * size
    items: Iterable[Any] = rows[skip : skip + size]
    results = [serialize(item) for item in items]
    return {
        "total": total,
        "itemCount": len(results),
        "numOfPages": (total + size - 1) // size,
        "pageNo": number,
        "skip": skip,
        "results": results,
    }
