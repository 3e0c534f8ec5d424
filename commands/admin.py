"""Django admin for commands and persistent MQTT sessions (SPEC §9).

Commands are created by writes into a device's public properties and move forward with
delivery; here they are read. Sessions may be removed (the client then starts afresh).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from commands.models import Command, MqttSession
from plugboard.timestamps import iso


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    list_display = ["id", "plug", "property", "state", "created_at", "sent_at", "acked_at", "expires"]
    list_filter = ["state", "created_at"]
    search_fields = ["=id", "=plug__id", "plug__name", "property", "=account_id", "=point_id"]
    list_select_related = ["plug"]
    raw_id_fields = ["plug"]
    show_full_result_count = False

    @admin.display(description="expires", ordering="expire_at")
    def expires(self, command: Command) -> str:
        return iso(command.expire_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MqttSession)
class MqttSessionAdmin(admin.ModelAdmin):
    list_display = ["client_id", "account", "plug", "subscription_count", "date_modified"]
    list_filter = ["date_modified"]
    search_fields = ["client_id", "=account__id", "account__email", "=plug__id", "plug__name"]
    list_select_related = ["account", "plug"]
    raw_id_fields = ["account", "plug"]
    readonly_fields = ["date_modified"]

    @admin.display(description="subscriptions")
    def subscription_count(self, session: MqttSession) -> int:
        return len(session.subscriptions or {})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
