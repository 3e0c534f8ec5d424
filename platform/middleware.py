"""What runs around every request: the access log (and the latency metric), and the guards that
run before any view (body size, content type, method override)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from plugboard.errors import json_error
from plugboard.metrics import http_request_timed
from plugboard.principals import Principal

access_log = logging.getLogger("plugboard.access")

OVERRIDABLE = {"GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIXES = ("/iot/", "/v3/")


class ApiGuardMiddleware:
    """413 for bodies over the limit (by Content-Length; `serve` refuses them earlier, before
    reading them: `plugboard.bounded_bodies`), 404/400 for a path or query string holding U+0000,
    415 for a state-changing API request whose Content-Type is not JSON, and
    `X-HTTP-Method-Override` turning a POST into any other method (SPEC §5). Sync, like the whole
    chain (`plugboard.handlers` runs it in one call)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return _refusal(request) or self.get_response(request)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """The error answer for a request the guards refuse (None: it goes on); applies the override."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return json_error(request, 400, "invalid Content-Length")
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return json_error(request, 413, f"request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
    # A decoded `%00` would reach ids, names and filters, and PostgreSQL refuses it in any
    # text. Nothing is named with it, so such a path names nothing.
    if "\x00" in request.path:
        return json_error(request, 404, "not found: no name holds U+0000 (%00)")
    if _query_holds_nul(request):
        return json_error(request, 400, "the query string must not hold U+0000 (%00)")
    if request.method not in SAFE_METHODS and request.path.startswith(API_PREFIXES):
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type and not is_json_media_type(content_type):
            return json_error(
                request, 415, f"Content-Type {content_type[:80]} is not accepted: send application/json"
            )
    override = request.META.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
    if request.method == "POST" and override:
        if override not in OVERRIDABLE:
            return json_error(request, 400, f"unsupported method override {override}")
        request.method = override
    return None


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, `text/json` or any `…/…+json`, with any parameters.

    The API reads every body as JSON, and what a web page on another site can send without the
    browser asking this server first (a CORS "simple" request: `text/plain`,
    `application/x-www-form-urlencoded`, `multipart/form-data`, the types of an HTML form) is
    refused: no form anywhere can write through the API. A request without a Content-Type is
    read as JSON, as careless device libraries send it (no browser form sends one)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or (media.endswith("+json") and "/" in media)


def _query_holds_nul(request: HttpRequest) -> bool:
    if "%00" not in request.META.get("QUERY_STRING", ""):
        return False
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists())


class ContentSecurityPolicyMiddleware:
    """`Content-Security-Policy` (settings.CONTENT_SECURITY_POLICY) on every HTML answer: the
    console, the admin, the API docs and the landing page. The API's JSON answers need none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class AccessLogMiddleware:
    """One JSON line per HTTP request on the `plugboard.access` logger (INFO): `method`, `path`
    (without the query string, which may carry anything), `status`, `duration_ms` and
    `credential` — the id the journal records (account email, plug id or key id), never a
    password or secret; null when no credential was accepted. First in the chain, so refusals
    of the guards and of authentication are logged too. It also feeds the latency histogram
    of /metrics (`plugboard_http_request_duration_seconds`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        http_request_timed(
            match.route if match else None, request.method or "", response.status_code, elapsed
        )
        if access_log.isEnabledFor(logging.INFO):
            duration_ms = round(elapsed * 1000, 2)
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "credential": _credential(request),
                },
            )
        return response


def _credential(request: HttpRequest) -> str | None:
    """The principal's credential id, if a view authenticated one; never evaluates a lazy
    user (that would read the session for every request)."""
    for name in ("user", "principal"):  # DRF sets `user`; the console sets `principal`
        candidate = request.__dict__.get(name)
        if isinstance(candidate, Principal):
            return candidate.key_id or candidate.credential
    return None
