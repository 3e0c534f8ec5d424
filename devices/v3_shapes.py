"""Property-dialect wire shapes declared once (issue 24, item 1): each serializer here reads the
body its view receives — a wrong JSON type in any field is a 400 in the dialect's error shape,
by construction — and is the object drf-spectacular documents, so the schema and the
validation cannot drift apart. Connio's words are mapped to plug words by `source`.

Converted so far: the account's settings (`PUT`/`PATCH /v3/accounts/{acc}`), a user's create
and change bodies (`POST /v3/users`, `PUT /v3/users/{id}`) and a sub-account's create
(`POST /v3/accounts`) and an API client's change (`PUT /v3/apiclients/{id}`). The other
management bodies are still read by `devices.v3_bodies` and documented by
`devices.schema_docs` (README, "Wire shapes").
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from devices.v3_bodies import READ_ONLY, apiclient_context, body_object, retention_seconds
from plugboard.errors import ApiError
from plugboard.parsers import MAX_INT


class Text(serializers.CharField):
    """A JSON string: a number or a boolean is refused, not turned into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Email(serializers.EmailField):
    """An email address, as a JSON string (the services check it again and lower its case)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Retention(serializers.JSONField):
    """Seconds, a duration such as `"30d"`, or Connio's `{"type": "historical", "lifetime"}`;
    read as seconds."""

    def to_internal_value(self, data: Any) -> Any:
        return retention_seconds(data, self.field_name or "retention")


class Word(serializers.ChoiceField):
    """One of a few words, read as what it means (`{"active": True, …}`)."""

    def __init__(self, words: dict[str, Any], **kwargs: Any) -> None:
        self.meanings = words
        super().__init__(list(words), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return self.meanings[super().to_internal_value(data)]


class Body(serializers.Serializer):
    """A JSON object body naming only the fields declared, or the read-only fields of the object
    a client sends back unchanged from a GET (`echoed`, ignored)."""

    echoed: frozenset[str] = READ_ONLY

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, f"{self.field_name or 'the body'} must be a JSON object")
        unknown = sorted(set(data) - set(self.fields) - self.echoed)
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
        return dict(super().to_internal_value(data))

    @classmethod
    def read(cls, request: Any, **context: Any) -> dict[str, Any]:
        """The request's body in plug words (`source`), only the fields it names."""
        shape = cls(data=body_object(request), context=context)
        shape.is_valid(raise_exception=True)
        return dict(shape.validated_data)


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


class Whole(serializers.IntegerField):
    """A JSON whole number: `true` or `"5"` is refused, not read as 1 or 5."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class Scopes(serializers.ListField):
    """Scope names, as a list or one string (Connio sends either); an unknown name is refused
    by `plugboard.services`, which keeps the list of scopes."""

    child = Text()

    def to_internal_value(self, data: Any) -> list[str]:
        return list(super().to_internal_value([data] if isinstance(data, str) else data))


class ApiClientChange(Body):
    """`PUT /v3/apiclients/{id}`: changes what the body names; the secret stays (POST
    `…/apikey` makes a new one). A new scope or context ends the key's MQTT sessions. `context`
    is read as (type, ids, app) for the account in `principal` (the context)."""

    echoed = READ_ONLY | {"secret", "ownerId"}

    name = Text(required=False, allow_blank=True, max_length=120)
    friendlyName = Text(required=False, allow_blank=True, max_length=120, source="friendly_name")
    description = Text(required=False, allow_blank=True)
    tags = serializers.ListField(child=Text(), required=False)
    scope = Scopes(required=False, help_text='such as ["device:read-data"]; an empty list is refused')
    context = serializers.JSONField(  # type: ignore[assignment]  # a field, not .context
        required=False, help_text="{type: account|app|devices|deviceprofile|template, ids: [...]}"
    )
    rateLimit = Whole(
        required=False,
        min_value=0,
        max_value=MAX_INT,
        source="rate_limit",
        help_text="requests a minute; 0 = unlimited",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "context" in attrs:
            # `self.context` is the field named context here; the serializer's own is `_context`.
            attrs["context"] = apiclient_context(self._context["principal"], attrs["context"])
        return attrs

    class Meta:
        ref_name = "ApiClientChange"
