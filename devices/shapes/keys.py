"""API keys and API clients on the wire (SPEC §3, §6): an API client's create and change bodies,
and the answers for a key (a device's, a user's, an API client's) and for an API client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devices import access
from devices.models import Plug, ProductionTemplate
from devices.selectors import plug_resolve
from devices.services.profiles import profile_lookup
from devices.shapes.base import READ_ONLY, Answer, Body, Moment, Text, Whole
from plugboard.errors import ApiError
from plugboard.models import ApiKey
from plugboard.parsers import MAX_INT
from plugboard.principals import Principal
from plugboard.services import APICLIENT_DEFAULT_SCOPE

# Connio's context words, and the context type each means.
CONTEXT_TYPES = {
    "account": ApiKey.ContextType.ACCOUNT,
    "app": ApiKey.ContextType.APP,
    "device": ApiKey.ContextType.DEVICES,
    "devices": ApiKey.ContextType.DEVICES,
    # Provisioning keys (scope device:provision): the one profile or template they provision into.
    "deviceprofile": ApiKey.ContextType.PROFILE,
    "template": ApiKey.ContextType.TEMPLATE,
}
CONTEXT_WORDS = sorted(CONTEXT_TYPES)
# Scopes a key has when none were stored: a device key reads and writes its own data.
DEVICE_KEY_SCOPE = ["device:read-data", "device:write-data"]


def apiclient_context(principal: Principal, value: dict[str, Any]) -> tuple[str, list[str], Plug | None]:
    """Connio's `{type, ids}` (read by `KeyContextIn`) → (context type, device ids, app)."""
    kind, ids = CONTEXT_TYPES[value["type"]], list(value.get("ids") or [])
    account_id = principal.account_id
    if kind == ApiKey.ContextType.ACCOUNT:
        others = sorted(set(ids) - {account_id, "_this_"})
        if others:
            raise ApiError(404, f"no account {others[0]}")
        return ApiKey.ContextType.ACCOUNT, [], None
    if kind == ApiKey.ContextType.PROFILE:
        return (
            ApiKey.ContextType.PROFILE,
            [profile_lookup(account_id=account_id, ref=i).id for i in ids],
            None,
        )
    if kind == ApiKey.ContextType.TEMPLATE:
        found = set(
            ProductionTemplate.objects.filter(account_id=account_id, id__in=ids).values_list("id", flat=True)
        )
        if missing := [i for i in ids if i not in found]:
            raise ApiError(404, f"no production template {missing[0]}")
        return ApiKey.ContextType.TEMPLATE, ids, None
    plugs = [plug_resolve(principal=principal, ref=i) for i in ids]
    if kind == ApiKey.ContextType.APP:
        if not access.is_app_context(plugs):
            raise ApiError(400, "an app context lists exactly one app (a controller plug)")
        return ApiKey.ContextType.APP, [], plugs[0]
    return ApiKey.ContextType.DEVICES, [p.id for p in plugs], None


# --- bodies -----------------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
class Scopes(serializers.ListField):
    """Scope names, as a list or one string (Connio sends either); an unknown name is refused
    by `plugboard.services`, which keeps the list of scopes."""

    child = Text()

    def to_internal_value(self, data: Any) -> list[str]:
        return list(super().to_internal_value([data] if isinstance(data, str) else data))


class KeyContextIn(Body):
    """An API client's context: where its scope applies (`ids`: the devices, the app, the
    profile or template; the account's own id or nothing for `account`)."""

    echoed = frozenset()

    type = serializers.ChoiceField(CONTEXT_WORDS)
    ids = serializers.ListField(child=Text(allow_blank=False), required=False, allow_null=True)

    class Meta:
        ref_name = "KeyContextIn"


class ApiClientIn(Body):
    """`POST /v3/apiclients`: an API client and its key, whose secret the answer shows once.
    Without `scope`, the stated default; `context` is read as (type, ids, app) for the account in
    `principal` (the serializer's context)."""

    echoed = frozenset()

    name = Text(required=False, allow_blank=True, allow_null=True, max_length=120)
    friendlyName = Text(
        required=False, allow_blank=True, allow_null=True, max_length=120, source="friendly_name"
    )
    description = Text(required=False, allow_blank=True, allow_null=True)
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    context = KeyContextIn()  # type: ignore[assignment]  # a field, not .context
    scope = Scopes(
        required=False,
        help_text='such as ["device:read-data"]; without it, ["device:read-data", "device:write-data"] '
        "(read and write data, no management); an empty list is refused",
    )
    rateLimit = Whole(
        required=False, min_value=0, max_value=MAX_INT, source="rate_limit", help_text="requests a minute"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        context_type, ids, app = apiclient_context(self._context["principal"], attrs["context"])
        return {
            "name": attrs.get("name") or attrs.get("friendly_name") or "",
            "friendly_name": attrs.get("friendly_name") or "",
            "description": attrs.get("description") or "",
            "tags": attrs.get("tags") or [],
            "scope": attrs.get("scope", list(APICLIENT_DEFAULT_SCOPE)),
            "rate_limit": attrs.get("rate_limit", 0),
            "context_type": context_type,
            "context_ids": ids,
            "app": app,
        }

    class Meta:
        ref_name = "ApiClientIn"


class ApiClientChange(Body):
    """`PUT /v3/apiclients/{id}`: changes what the body names; the secret stays (POST
    `…/apikey` makes a new one). A new scope or context ends the key's MQTT sessions. `context`
    is read as (type, ids, app) for the account in `principal` (the serializer's context)."""

    echoed = READ_ONLY | {"secret", "ownerId"}

    name = Text(required=False, allow_blank=True, max_length=120)
    friendlyName = Text(required=False, allow_blank=True, max_length=120, source="friendly_name")
    description = Text(required=False, allow_blank=True)
    tags = serializers.ListField(child=Text(), required=False)
    scope = Scopes(required=False, help_text='such as ["device:read-data"]; an empty list is refused')
    context = KeyContextIn(required=False)  # type: ignore[assignment]  # a field, not .context
    rateLimit = Whole(
        required=False,
        min_value=0,
        max_value=MAX_INT,
        source="rate_limit",
        help_text="requests a minute; 0 = unlimited",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "context" in attrs:
            attrs["context"] = apiclient_context(self._context["principal"], attrs["context"])
        return attrs

    class Meta:
        ref_name = "ApiClientChange"


# --- answers ----------------------------------------------------------------------------------------


def key_context_ids(key: ApiKey) -> list[str]:
    if key.context_type == ApiKey.ContextType.ACCOUNT:
        return [key.account_id]
    if key.context_type == ApiKey.ContextType.APP:
        return [key.plug_id] if key.plug_id else []
    return list(key.context_ids or [])


def key_owner_id(key: ApiKey) -> str:
    # A device key belongs to its device; an API client and its key are one record here.
    if key.kind == ApiKey.Kind.DEVICE and key.plug_id:
        return key.plug_id
    if key.kind == ApiKey.Kind.APICLIENT:
        return key.id
    if key.kind == ApiKey.Kind.USER and key.user_id:
        return key.user_id  # a user's key belongs to the user
    return key.account_id


def key_scope(key: ApiKey) -> list[str]:
    scope = list(key.scope or [])
    if not scope and key.kind == ApiKey.Kind.DEVICE:
        return list(DEVICE_KEY_SCOPE)
    return scope


class KeyContext(Answer):
    """Where a key's scope applies: the account, an app, devices, a profile or a template."""

    type = serializers.CharField(help_text="device, account, app or devices")
    ids = serializers.ListField(child=serializers.CharField())

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "type": lambda key: key.context_type,
        "ids": key_context_ids,
    }

    class Meta:
        ref_name = "KeyContext"


class ApiKeyAnswer(Answer):
    """An API key; the view gives `secret`: `None` once it can no longer be shown (user and API
    client keys)."""

    id = serializers.CharField()
    secret = serializers.CharField(allow_null=True, help_text="shown once, when made; else null")
    accountId = serializers.CharField(source="account_id")
    ownerId = serializers.CharField()
    context = KeyContext(source="*")  # type: ignore[assignment]  # a field, not .context
    scope = serializers.ListField(child=serializers.CharField())
    rateLimit = serializers.IntegerField(source="rate_limit", help_text="requests a minute; 0 = unlimited")
    dateCreated = Moment(source="date_created", allow_null=True)
    dateModified = Moment(source="date_modified", allow_null=True)

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {"ownerId": key_owner_id, "scope": key_scope}

    class Meta:
        ref_name = "ApiKey"


class ApiClientAnswer(ApiKeyAnswer):
    """An API client: its key object plus the client fields the SDKs read."""

    name = serializers.CharField(allow_blank=True)
    friendlyName = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        **ApiKeyAnswer.computed,
        "friendlyName": lambda key: key.friendly_name or key.name,
        "tags": lambda key: key.tags or [],
    }

    class Meta:
        ref_name = "ApiClient"
