"""Request guards that run before any view: body size and method override."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from plugboard.errors import json_error

OVERRIDABLE = {"GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS"}


class ApiGuardMiddleware:
    """413 for bodies over the limit (by Content-Length, before reading them), and
    `X-HTTP-Method-Override` turning a POST into any other method (SPEC §5)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(request, 400, "invalid Content-Length")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return json_error(request, 413, f"request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
        override = request.META.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
        if request.method == "POST" and override:
            if override not in OVERRIDABLE:
                return json_error(request, 400, f"unsupported method override {override}")
            request.method = override
        return self.get_response(request)
