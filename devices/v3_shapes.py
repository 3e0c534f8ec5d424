"""Property-dialect wire shapes declared once (issue 24, item 1): each serializer here reads the
body its view receives — a wrong JSON type in any field is a 400 in the dialect's error shape,
by construction — and is the object drf-spectacular documents, so the schema and the
validation cannot drift apart. Connio's words are mapped to plug words by `source`.

Converted so far: the account's settings (`PUT`/`PATCH /v3/accounts/{acc}`) and a user's
create and change bodies (`POST /v3/users`, `PUT /v3/users/{id}`). The other
management bodies are still read by `devices.v3_bodies` and documented by
`devices.schema_docs` (README, "Wire shapes").
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from devices.v3_bodies import READ_ONLY, body_object, retention_seconds
from plugboard.errors import ApiError


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

    echoed: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        unknown = sorted(set(data) - set(self.fields) - self.echoed - READ_ONLY)
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
        return dict(super().to_internal_value(data))

    @classmethod
    def read(cls, request: Any) -> dict[str, Any]:
        """The request's body in plug words (`source`), only the fields it names."""
        shape = cls(data=body_object(request))
        shape.is_valid(raise_exception=True)
        return dict(shape.validated_data)


class AccountSettings(Body):
    """`PUT`/`PATCH /v3/accounts/{acc}`: both change only the fields the body names (the Connio
    SDK's update PUTs just what it changes); `null` clears `defaultRetention`. `status` is a
    sub-account's, changed by its parent only."""

    echoed = frozenset({"name", "email", "plan", "locked", "ownerId"})

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

    echoed = USER_ECHOED - {"status"}

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

    echoed = USER_ECHOED - {"status"}

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
