"""The OpenAPI description's shared parts (drf-spectacular): credentials, the two dialects' error
shapes, and the helpers each app's `schema_docs` module builds its operations with.

The dialect views parse their bodies themselves; the serializers here and in the apps'
`schema_docs` modules are documentation only (nothing calls `is_valid` on them).
"""

from __future__ import annotations

import re
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


# --- links: from each create operation to the operations that take the id it made ----------------

# Paths that reach the same objects under another family: a device made by `POST /v3/devices` is
# written and read under `/v3/data/devices/{ref}` too (and an app under `/v3/data/apps/{ref}`).
LINKED_FAMILIES = {"/v3/devices": "/v3/data/devices", "/v3/apps": "/v3/data/apps"}
_PARAM = re.compile(r"\{(\w+)\}")


def _success(op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for code in ("201", "200"):
        if code in op.get("responses", {}):
            return code, op["responses"][code]
    return None


def _has_id(result: dict[str, Any], schema: Any) -> bool:
    """The response schema names an `id` at the top (through a `$ref` or an allOf)."""
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _has_id(result, result.get("components", {}).get("schemas", {}).get(name))
    if "id" in schema.get("properties", {}):
        return True
    return any(_has_id(result, part) for part in schema.get("allOf", []))


def _families(path: str) -> list[str]:
    """`path` and the same objects' paths in the linked families, with and without the
    `/v3/accounts/{acc}` prefix."""
    found = [path]
    for base, other in LINKED_FAMILIES.items():
        scoped = (
            "/v3/accounts/{acc}" + base.removeprefix("/v3"),
            "/v3/accounts/{acc}" + other.removeprefix("/v3"),
        )
        for source, twin in ((base, other), scoped):
            if path == source or path.startswith(source + "/"):
                found.append(twin + path.removeprefix(source))
    return found


def request_bodies_closed(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Postprocessing hook: a request body component admits no field it does not name
    (`additionalProperties: false`: the bodies refuse unknown fields), and a `name` it names is
    never empty (every create refuses an empty name). So a body generated from the schema is one
    the server takes, and a fuzzer's creates succeed (issue 24)."""
    components = result.get("components", {}).get("schemas", {})
    refs = {
        content["schema"]["$ref"].rsplit("/", 1)[1]
        for item in result.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict)
        for content in op.get("requestBody", {}).get("content", {}).values()
        if "$ref" in content.get("schema", {})
    }
    for name in refs:
        component = components.get(name, {})
        if component.get("type") != "object" or "properties" not in component:
            continue
        component.setdefault("additionalProperties", False)
        named = component["properties"].get("name")
        if isinstance(named, dict) and named.get("type") == "string":
            named.setdefault("minLength", 1)
    return result


def create_links(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Postprocessing hook: OpenAPI links from every create operation (a POST answering an
    object with an `id`) to each operation whose path continues the create's path with one more
    parameter, that parameter taken from the answer's `id` and the others from the create's own
    path. A stateful fuzzer (schemathesis) follows them to read, change and delete what it made
    instead of guessing ids (issue 24)."""
    paths: dict[str, dict[str, Any]] = result.get("paths", {})
    for path, item in paths.items():
        create = item.get("post")
        success = _success(create) if create else None
        if create is None or success is None:
            continue
        code, response = success
        body = response.get("content", {}).get("application/json", {}).get("schema")
        if not _has_id(result, body):
            continue
        own = set(_PARAM.findall(path))
        links: dict[str, Any] = {}
        for base in _families(path.rstrip("/")):
            for target, target_item in paths.items():
                if not target.startswith(base + "/{"):
                    continue
                new = _PARAM.match(target, len(base) + 1)
                assert new is not None
                made = new.group(1)
                if made in own:
                    continue
                wanted = set(_PARAM.findall(target))
                if wanted - own - {made}:
                    continue  # needs an id this create does not give (a property of it, …)
                for method, op in target_item.items():
                    if method not in ("get", "put", "patch", "delete", "post") or "operationId" not in op:
                        continue
                    parameters = {made: "$response.body#/id"}
                    parameters.update({name: f"$request.path.{name}" for name in wanted & own})
                    links[op["operationId"]] = {"operationId": op["operationId"], "parameters": parameters}
        if links:
            create["responses"][code]["links"] = links
    return result
