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

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse

# A file response up to this size (every static asset WhiteNoise serves) is read in the request's
# thread; a larger one is left to Django's streaming.
READ_IN_THREAD_BYTES = 8 * 1024 * 1024


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # `thread_sensitive`: the request's own thread (Django's `ThreadSensitiveContext` per
        # request), where `request_started`/`request_finished` also manage its connection.
        response: Any = await sync_to_async(self._respond, thread_sensitive=True)(request)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if isinstance(response, FileResponse) and not response.is_async:
            _read_file_in_thread(response)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            _stream_from_thread(response)
        return response


def _stream_from_thread(response: StreamingHttpResponse) -> None:
    """Give a streaming response over a sync iterator (an export reading pages of rows) an
    async body that pulls one chunk at a time in the request's thread, where its database
    connection lives.

    Django's ASGI handler would otherwise gather a sync iterator whole (`sync_to_async(list)`)
    before sending a byte: the memory of the entire export, and no first byte until the last
    row is read."""
    chunks: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]  # sync here

    def pull() -> bytes | None:
        return next(chunks, None)

    pull_in_thread = sync_to_async(pull, thread_sensitive=True)

    async def body() -> AsyncIterator[bytes]:
        while (chunk := await pull_in_thread()) is not None:
            yield chunk

    response.streaming_content = body()


def _read_file_in_thread(response: FileResponse) -> None:
    """Give a small file response an async body read here, in the request's thread.

    WhiteNoise answers static files with a `FileResponse` over a plain file; under ASGI Django
    would warn about the sync iterator on every request and read it in a second hop."""
    size = response.get("Content-Length")
    if size is None or not size.isdigit() or int(size) > READ_IN_THREAD_BYTES:
        return
    body = b"".join(response.streaming_content)  # type: ignore[arg-type]

    async def once() -> AsyncIterator[bytes]:
        yield body

    response.streaming_content = once()
