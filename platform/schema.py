"""The OpenAPI description's shared parts (drf-spectacular): credentials, the two dialects' error
shapes, and the helpers each app's `schema_docs` module builds its operations with.

The dialect views parse their bodies themselves; the serializers here and in the apps'
`schema_docs` modules are documentation only (nothing calls `is_valid` on them).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from plugboard.errors import _CAUSES as CAUSES

# --- credentials (SPEC §3) ----------------------------------------------------------------------

# Each HTTP credential form, as a security requirement (schemes named in SCHEMES below).
Requirement = dict[str, list[str]]
ACCOUNT_HEADERS: Requirement = {"plugEmail": [], "plugMaster": []}
ACCOUNT_BASIC: Requirement = {"accountBasic": []}
PLUG_HEADERS: Requirement = {"plugId": [], "plugAuth": []}
PLUG_BASIC: Requirement = {"plugBasic": []}
PLUG_MASTER: Requirement = {"plugId": [], "plugMaster": []}
KEY_BASIC: Requirement = {"keyBasic": []}

# Who may call what is decided per request (devices.access); these say which forms are read.
# (`extend_schema(auth=…)` takes these requirements, though drf-spectacular's hint says names.)
ANY_CREDENTIALS: Any = [ACCOUNT_HEADERS, ACCOUNT_BASIC, PLUG_HEADERS, PLUG_BASIC, PLUG_MASTER, KEY_BASIC]
# The account itself: its master password, or a user key (keyBasic).
ACCOUNT_CREDENTIALS: Any = [ACCOUNT_HEADERS, ACCOUNT_BASIC, PLUG_MASTER, KEY_BASIC]
# No credentials: production enrollment proves itself with the hwid's password.
OR_NONE: Any = [{}]


def _header(name: str, what: str) -> dict[str, str]:
    return {"type": "apiKey", "in": "header", "name": name, "description": what}


def _basic(what: str) -> dict[str, str]:
    return {"type": "http", "scheme": "basic", "description": what}


SCHEMES: dict[str, dict[str, str]] = {
    "accountBasic": _basic("the account: `email:master password`"),
    "plugBasic": _basic("a plug (a device or an app): `plug id:auth` (`dev-…:…`)"),
    "keyBasic": _basic(
        "an API key: `_key_…:secret` (a user key acts as the account, a device key as its device, "
        "an API client key within its context and scope)"
    ),
    "plugId": _header("X-Plug-Id", "a plug id (with X-Plug-Auth, or with X-Plug-Master)"),
    "plugAuth": _header("X-Plug-Auth", "the plug's auth (its device key secret)"),
    "plugEmail": _header("X-Plug-Email", "the account's email (with X-Plug-Master)"),
    "plugMaster": _header("X-Plug-Master", "the account's master password"),
}


class PlugCredentialsScheme(OpenApiAuthenticationExtension):
    target_class = "plugboard.authentication.PlugCredentialsAuthentication"
    name = list(SCHEMES)

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        return ANY_CREDENTIALS

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        return list(SCHEMES.values())


# --- operation ids ------------------------------------------------------------------------------


class PlatformAutoSchema(AutoSchema):
    """Operation ids a generated client's functions read well under: the path's words, each
    path parameter as `by_<name>`, then the action (`/iot/device/{ref}/{key}` PATCH is
    `iot_device_by_ref_by_key_partial_update`). The channel dialect serves `device` and
    `device/` alike: the second gets `_slash`."""

    def get_operation_id(self) -> str:
        words = [
            f"by_{part.strip('{}')}" if part.startswith("{") else part.replace("-", "_")
            for part in self.path.strip("/").split("/")
            if part
        ]
        if self.path.startswith("/iot/") and self.path.endswith("/"):
            words.append("slash")
        action = "list" if self.method == "GET" and self._is_list_view() else None
        return "_".join([*words, action or self.method_mapping[self.method.lower()]])


# --- fields ---------------------------------------------------------------------------------------


@extend_schema_field({"description": "any JSON value"})
class AnyJson(serializers.JSONField):
    """A JSON value of any type (schema `{}`)."""


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "description": "milliseconds since the epoch"},
            {"type": "string", "description": "ISO 8601, or milliseconds as a numeric string"},
        ]
    }
)
class Timestamp(serializers.JSONField):
    pass


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
class StringOrList(serializers.JSONField):
    """One string, a CSV string, or an array of strings."""


# --- the two dialects' error shapes (plugboard.errors) --------------------------------------------


ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    "ChannelError": {
        "type": "object",
        "description": 'The channel dialect\'s error: `{"err": <status>, "msg": "<text>"}`.',
        "properties": {
            "err": {"type": "integer", "description": "the HTTP status"},
            "msg": {"type": "string"},
        },
        "required": ["err", "msg"],
    },
    "PropertyError": {
        "type": "object",
        "description": "One error of the property dialect; its error body is a list of them.",
        "properties": {
            "code": {"type": "integer", "description": "the HTTP status"},
            "cause": {"type": "string", "description": "BadRequest, Unauthorized, Forbidden, NotFound, …"},
            "message": {"type": "string"},
        },
        "required": ["code", "cause", "message"],
    },
}
CHANNEL_ERROR = {"$ref": "#/components/schemas/ChannelError"}
PROPERTY_ERRORS = {"type": "array", "items": {"$ref": "#/components/schemas/PropertyError"}}


def error_components(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Postprocessing hook (SPECTACULAR_SETTINGS): the error shapes every operation refers to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    return result


WHY = {
    400: "the body, a parameter or a value is refused",
    401: "no credentials, or wrong ones",
    403: "these credentials may not do this",
    404: "no such resource in the caller's account",
    409: "the name is taken",
    413: "the body (or the number of records in it) is over the limit",
    415: "the body's Content-Type is not JSON (application/json, text/json or …+json); only writes",
    429: "too many failed authentications, or over the API key's rate limit",
    502: "an outbound target (a data connector's receiver, broker or exchange) did not take the message",
    503: "the database or the channel layer is unavailable; retry",
}
COMMON = (400, 401, 403, 404, 413, 415, 429, 503)


def channel_errors(*extra: int) -> dict[int, OpenApiResponse]:
    """The channel dialect's error responses: the common ones and `extra`."""
    return {
        code: OpenApiResponse(
            CHANNEL_ERROR,
            description=WHY[code],
            examples=[OpenApiExample(f"e{code}", {"err": code, "msg": WHY[code]})],
        )
        for code in sorted({*COMMON, *extra})
    }


def property_errors(*extra: int) -> dict[int, OpenApiResponse]:
    """The property dialect's error responses: the common ones and `extra`."""
    return {
        code: OpenApiResponse(
            PROPERTY_ERRORS,
            description=WHY[code],
            examples=[
                OpenApiExample(f"e{code}", [{"code": code, "cause": CAUSES[code], "message": WHY[code]}])
            ],
        )
        for code in sorted({*COMMON, *extra})
    }


def json_body(schema: Any) -> dict[str, Any]:
    """A request body read as JSON (without a Content-Type too; any other type is a 415)."""
    return {"application/json": schema}


def example(name: str, value: Any, *, summary: str = "", request: bool = True) -> OpenApiExample:
    return OpenApiExample(
        name, value=value, summary=summary or name, request_only=request, response_only=not request
    )


def query(name: str, kind: Any, description: str, **kw: Any) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, **kw)


def path_param(name: str, description: str, **kw: Any) -> OpenApiParameter:
    return OpenApiParameter(name, str, OpenApiParameter.PATH, description=description, **kw)
