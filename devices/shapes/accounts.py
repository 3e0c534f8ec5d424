"""Accounts and users on the wire (SPEC §6 "Fleets"): the account's settings (`PUT`/`PATCH
/v3/accounts/{acc}`), a user's create and change (`POST /v3/users`, `PUT /v3/users/{id}`) and a
sub-account's create (`POST /v3/accounts`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from devices.shapes.base import READ_ONLY, Body, Email, Retention, Text, Word
from plugboard.errors import ApiError


class AccountSettings(Body):
    """`PUT`/`PATCH /v3/accounts/{acc}`: both change only the fields the body names (the Connio
    SDK's update PUTs just what it changes); `null` clears `defaultRetention`. `status` is a
    sub-account's, changed by its parent only."""

    echoed = READ_ONLY | {"name", "email", "plan", "locked", "ownerId"}

    defaultRetention = Retention(
        required=False, allow_null=True, source="default_retention", help_text="null: none"
    )
    friendlyName = Text(
        required=False, allow_blank=True, allow_null=True, max_length=120, source="friendly_name"
    )
    description = Text(required=False, allow_blank=True, allow_null=True)
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    status = Word(
        {"active": True, "suspended": False},
        required=False,
        source="is_active",
        help_text="a sub-account's, changed by its parent only",
    )

    class Meta:
        ref_name = "AccountSettings"


ROLES = ["admin", "developer", "viewer"]
# The user object's fields Plugboard keeps no value for: sent back from a GET, they are ignored.
USER_ECHOED = frozenset({"status", "description", "tags", "locale", "timezone", "prefs", "avatarUrl"})


class UserIn(Body):
    """`POST /v3/users`: a user of the account, with the user key the answer shows once."""

    echoed = READ_ONLY | (USER_ECHOED - {"status"})

    email = Email(max_length=254)
    role = Word({r: r for r in ROLES}, help_text="admin: the account; developer, viewer: scoped")
    name = Text(required=False, allow_blank=True, allow_null=True, max_length=120)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and "password" in data:
            raise ApiError(400, "users have no password here: they sign in with their user key")
        return super().to_internal_value(data)

    class Meta:
        ref_name = "UserIn"


class UserChange(UserIn):
    """`PUT /v3/users/{id}`: changes what the body names."""

    echoed = READ_ONLY | (USER_ECHOED - {"status"})

    email = Email(max_length=254, required=False)
    role = Word({r: r for r in ROLES}, required=False)
    status = Word(
        {"active": True, "disabled": False},
        required=False,
        source="is_active",
        help_text="disabled: its key stops",
    )

    class Meta:
        ref_name = "UserChange"


class SubaccountAdmin(Body):
    """A sub-account's administrator: its email becomes the sub-account's."""

    echoed = frozenset()

    email = Email(max_length=254, help_text="also the sub-account's email (unique)")
    role = Word({"admin": "admin"}, required=False, allow_null=True)
    name = Text(required=False, allow_blank=True, allow_null=True, max_length=120)

    class Meta:
        ref_name = "SubaccountAdmin"


class SubaccountIn(Body):
    """`POST /v3/accounts` (Connio's account create): a name alone makes one (SPEC §6); with
    `user`, its administrator. `owner` may only name the account the caller acts in (the
    `principal` in the context), and `plan` must be null (no plans here)."""

    name = Text(max_length=120)
    friendlyName = Text(
        required=False, allow_blank=True, allow_null=True, max_length=120, source="friendly_name"
    )
    user = SubaccountAdmin(
        required=False,
        allow_null=True,
        help_text="the sub-account's administrator (optional: without one the sub-account has no email)",
    )
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    description = Text(required=False, allow_blank=True, allow_null=True)
    defaultRetention = Retention(required=False, allow_null=True, source="default_retention")
    plan = serializers.JSONField(required=False, allow_null=True, help_text="null only: no plans here")
    owner = Text(required=False, allow_null=True, help_text="the caller's account, if given")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("plan") is not None:
            raise ApiError(400, "plans are not kept here: plan must be null or left out")
        owner = attrs.get("owner")
        if owner is not None and not self.context["principal"].names_own_account(owner):
            raise ApiError(404, f"no account {owner}")
        return attrs

    @staticmethod
    def fields_of(body: dict[str, Any]) -> dict[str, Any]:
        """What `plugboard.accounts.services.subaccount_create` takes."""
        admin = body.get("user") or {}
        return {
            "name": body["name"],
            "friendly_name": body.get("friendly_name") or "",
            "description": body.get("description") or "",
            "tags": body.get("tags"),
            "admin_email": admin.get("email"),
            "admin_name": admin.get("name") or "",
            "default_retention": body.get("default_retention"),
        }

    class Meta:
        ref_name = "SubaccountIn"
