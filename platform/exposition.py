"""`/metrics`: the Prometheus text exposition (SPEC §14) for whom `devices.access` lets read it.

A refused scrape gets the very 404 an unknown path gets: nothing says the endpoint exists, let
alone what it would show (a 403 would tell a scanner there is something to try tokens on).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from devices.access import metrics_readable
from plugboard.errors import handler404
from plugboard.metrics import exposition
from plugboard.ratelimits import client_address


@csrf_exempt  # refused below with a 404 or 405 rather than CSRF's 403, which would tell
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_readable(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""), address=client_address(request)
    ):
        return handler404(request)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
