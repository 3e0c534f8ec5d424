"""Django admin for data points and the event journal (SPEC §9).

These are the large tables: no foreign-key widgets, no full result count, exact-match or
prefix searches shaped for the indexes, and on PostgreSQL the unfiltered page count comes from
the planner's estimate instead of a `COUNT(*)` over millions of rows. Both are read-only here:
data is written through the one write service, and the journal is append-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.http import HttpRequest
from django.utils.functional import cached_property

from data.models import DataPoint, JournalEntry, Rollup, RollupMark
from devices.models import Plug
from plugboard.identifiers import is_oid
from plugboard.timestamps import iso


class EstimatedCountPaginator(Paginator):
    """`COUNT(*)` when filtered; the table's row estimate when not (PostgreSQL only)."""

    @cached_property
    def count(self) -> int:
        rows: Any = self.object_list
        query = getattr(rows, "query", None)
        if query is not None and not query.where and not query.combinator:
            model = rows.model
            connection = connections[rows.db]
            if connection.vendor == "postgresql":
                # A partitioned table (the journal) has no estimate of its own: its partitions' sum.
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT sum(reltuples) FILTER (WHERE reltuples > 0) FROM pg_class "
                        "WHERE relkind = 'r' AND oid IN (SELECT %s::regclass UNION ALL "
                        "SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
                        [model._meta.db_table] * 2,
                    )
                    row = cursor.fetchone()
                # never analysed or a small table: count for real.
                if row and row[0] and row[0] > 100_000:
                    return int(row[0])
        return super().count


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expires"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "expires"), ("no", "kept")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "yes":
            return queryset.filter(expire_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(expire_at__isnull=True)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _by_id_or_channel(queryset: Any, term: str, id_field: str) -> Any:
    """One exact, case-sensitive look-up chosen by the term's form, so that an index can answer
    it (Django's own `=field` search is case-insensitive, which no index serves)."""
    if not term:
        return queryset
    if is_oid(term):
        return queryset.filter(**{id_field: term})
    if term.startswith("dev-"):
        # The (account_id, of, …) indexes lead with the account: name it too.
        account_id = Plug.objects.filter(id=term).values_list("account_id", flat=True).first()
        return queryset.filter(account_id=account_id or "", of=term)
    if term.startswith("com-"):
        return queryset.filter(account_id=term)
    return queryset.filter(channel__startswith=term)


@admin.register(DataPoint)
class DataPointAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "of", "time", "short_data", "expire_at", "account_id"]
    list_filter = [ExpiryFilter]
    search_fields = ["id"]  # shows the search box; the look-up itself is `get_search_results`
    search_help_text = "An OID, a plug id (dev-…), an account id (com-…) or the start of a channel."
    # The OID starts with its creation time, so the primary key orders newest first cheaply.
    ordering = ["-id"]
    sortable_by = ["id"]

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        return _by_id_or_channel(queryset, search_term.strip(), "id"), False

    @admin.display(description="at", ordering="at")
    def time(self, point: DataPoint) -> str:
        return iso(point.at)

    @admin.display(description="data")
    def short_data(self, point: DataPoint) -> str:
        text = repr(point.data)
        return text if len(text) <= 80 else text[:77] + "…"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # removals go through the write service, which journals them


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "received", "event", "source", "credential", "channel", "of", "at", "account_id"]
    list_filter = ["event", "source"]
    search_fields = ["of"]  # shows the search box; the look-up itself is `get_search_results`
    search_help_text = (
        "An entry number, a point's OID, a plug id (dev-…), an account id (com-…), "
        "a credential (key id or email) or the start of a channel."
    )
    sortable_by = ["id"]

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        if term.isdigit() and len(term) <= 18:  # fits a bigint
            return queryset.filter(id=int(term)), False
        if term.startswith("_key_") or "@" in term:
            return queryset.filter(credential=term), False
        return _by_id_or_channel(queryset, term, "point_id"), False

    @admin.display(description="received", ordering="received_at")
    def received(self, entry: JournalEntry) -> str:
        return iso(entry.received_at)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only; old entries go with the journal's retention (SPEC §4, §8)


@admin.register(Rollup)
class RollupAdmin(ReadOnlyAdmin):
    """Minute, hour and day buckets: written by the refresh only, read here."""

    list_display = ("channel", "of", "level", "bucket", "count", "numbers", "total", "low", "high")
    list_filter = ("level",)
    search_fields = ("=channel", "=of", "=account_id")


@admin.register(RollupMark)
class RollupMarkAdmin(ReadOnlyAdmin):
    """Minutes waiting for the refresh (a backlog is visible here)."""

    list_display = ("channel", "of", "minute", "account_id")
    search_fields = ("=channel", "=of", "=account_id")
