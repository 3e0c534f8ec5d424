"""Bench-only URL conf for `request_path.py`: the product's URLs plus the two baselines, served
by the same server process as the product.

- `GET /bench/empty`: an empty Django function view (the framework's floor, middleware included);
- `POST /bench/insert`: a minimal DRF `APIView`, no authentication, one `INSERT … RETURNING`
  into a table the bench made (`bench_request_row`).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plugboard.urls import urlpatterns as product_urlpatterns

handler400 = "plugboard.errors.handler400"
handler403 = "plugboard.errors.handler403"
handler404 = "plugboard.errors.handler404"
handler500 = "plugboard.errors.handler500"


def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"")


class MinimalInsert(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def post(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_request_row (v) VALUES (%s) RETURNING id", [int(request.data["v"])]
            )
            row = cursor.fetchone()
        return Response({"id": row[0]})


urlpatterns = [
    path("bench/empty", empty),
    path("bench/insert", MinimalInsert.as_view()),
    *product_urlpatterns,
]
