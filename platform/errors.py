"""Errors in each dialect's own shape.

Channel dialect (`/iot/`): `{"err": <status>, "msg": "<text>"}`.
Property dialect (`/v3/`): `[{"code": <status>, "cause": "<short>", "message": "<text>"}]`.
Anything else gets the channel shape. No path answers with an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django import db
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a status and a message, raised by views and services alike."""

    def __init__(self, status_code: int, message: str, cause: str | None = None) -> None:
        self.status_code = status_code
        self.cause = cause or _CAUSES.get(status_code, "error")
        super().__init__(message)


class PayloadTooLarge(ApiError):
    def __init__(self, message: str = "request body too large") -> None:
        super().__init__(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, message)


_CAUSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}


def is_property_dialect(path: str) -> bool:
    return path.startswith("/v3/") or path == "/v3"


def error_body(path: str, status_code: int, message: str, cause: str | None = None) -> Any:
    if is_property_dialect(path):
        return [
            {"code": status_code, "cause": cause or _CAUSES.get(status_code, "error"), "message": message}
        ]
    return {"err": status_code, "msg": message}


def _message(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_message(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_message(v)}" for k, v in detail.items())
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from rest_framework.views import exception_handler as drf_exception_handler  # cycle: DRF settings

    response = drf_exception_handler(exc, context)
    request = context.get("request")
    path = request.path if request is not None else "/"
    if response is None:
        if isinstance(exc, db.OperationalError | db.InterfaceError):
            # The database went away mid-request (a restart, a killed connection): nothing of
            # this request committed, so "retry" is the truthful answer, not an internal error.
            log.warning("database unavailable", extra={"path": path, "error": str(exc)})
            return Response(
                error_body(path, 503, "database unavailable, retry"), status=503, headers={"Retry-After": "1"}
            )
        log.exception("unhandled error", extra={"path": path})
        return Response(error_body(path, 500, "internal error"), status=500)
    if isinstance(exc, exceptions.NotAuthenticated):
        message = "authentication required"
    else:
        message = _message(getattr(exc, "detail", str(exc)))
    response.data = error_body(path, response.status_code, message, getattr(exc, "cause", None))
    return response


def json_error(request: HttpRequest, status_code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(request.path, status_code, message), status=status_code, safe=False)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 404, "not found")


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(request, 500, "internal error")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 400, "bad request")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 403, "forbidden")


def reason_phrases_complete() -> None:
    """Give Twisted's HTTP server (Daphne's) the reason phrase of every status Python knows.

    ASGI carries no reason phrase, so Daphne's Twisted request looks the status up in
    `twisted.web.http.RESPONSES`, which lacks 429 (and 422, 451, …): the status line said
    `429 Unknown Status`. The ASGI entry point calls this once; existing phrases are kept."""
    from twisted.web import http  # only servers need it; importing it installs no reactor

    for known in HTTPStatus:
        http.RESPONSES.setdefault(known.value, known.phrase.encode())
