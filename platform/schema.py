"""OpenAPI description of the platform's credentials (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PlugCredentialsScheme(OpenApiAuthenticationExtension):
    target_class = "plugboard.authentication.PlugCredentialsAuthentication"
    name = ["basicAuth", "plugId", "plugAuth", "plugEmail", "plugMaster"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        return [
            {"basicAuth": []},
            {"plugId": [], "plugAuth": []},
            {"plugEmail": [], "plugMaster": []},
            {"plugId": [], "plugMaster": []},
        ]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        def header(name: str, what: str) -> dict[str, str]:
            return {"type": "apiKey", "in": "header", "name": name, "description": what}

        return [
            {
                "type": "http",
                "scheme": "basic",
                "description": "email:master password, dev-…:auth, or _key_…:secret",
            },
            header("X-Plug-Id", "a plug id"),
            header("X-Plug-Auth", "the plug's auth (its device key secret)"),
            header("X-Plug-Email", "the account's email"),
            header("X-Plug-Master", "the account's master password"),
        ]
