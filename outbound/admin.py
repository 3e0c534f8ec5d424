"""Django admin for what leaves the platform (SPEC §9, §13): read-only views of the outbox, the
delivery counters and the data connectors. A connector is changed through the API, which checks
its target against the network rule; its saved credentials are never shown."""

from __future__ import annotations

from django.contrib import admin

from data.admin import ReadOnlyAdmin
from outbound.models import DataConnector, OutboxMessage, OutboxStream, OutboxTarget


@admin.register(OutboxStream)
class OutboxStreamAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "target", "key", "due_at", "attempts", "lease_until")
    list_filter = ("kind",)
    search_fields = ("=target", "=key")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "stream_id", "account_id", "created_at", "attempts", "dead", "delivery_id")
    list_filter = ("dead",)
    search_fields = ("=account_id", "=delivery_id")
    list_select_related = False


@admin.register(OutboxTarget)
class OutboxTargetAdmin(ReadOnlyAdmin):
    list_display = ("kind", "target", "delivered", "failures", "dead", "last_delivered_at", "last_error")
    list_filter = ("kind",)
    search_fields = ("=target",)


@admin.register(DataConnector)
class DataConnectorAdmin(ReadOnlyAdmin):
    list_display = ("id", "account_id", "app_id", "type", "disabled", "date_modified")
    list_filter = ("type", "disabled")
    search_fields = ("=id", "=account__id", "=app__id")
    exclude = ("secrets",)  # encrypted credentials: never shown
