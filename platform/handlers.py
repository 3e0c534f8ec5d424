"""Django's ASGI handler with the middleware chain and the view run as one synchronous call.

Django's own `ASGIHandler` loads the middleware in async mode. Every `MiddlewareMixin`
middleware (all of Django's) then runs its `process_request` and `process_response` through
`sync_to_async`, a hop into the request's thread and back: 17 hops for one write through this
project's eight middlewares (tests/plugboard/test_asgi.py counts them), ~1 ms of the ~14 ms of
CPU a 1,000-point write took in-process. Here the whole chain runs as it does under WSGI, in
one hop into the request's thread. Every view of the project is synchronous; an async one
would still work (Django's sync path runs it with `async_to_sync`), only less cheaply.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # `thread_sensitive`: the request's own thread (Django's `ThreadSensitiveContext` per
        # request), where `request_started`/`request_finished` also manage its connection.
        response: Any = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response
