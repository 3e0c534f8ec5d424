"""Django's ASGI handler with the request's whole synchronous part run as one call, in a thread
kept from request to request.

Django's own `ASGIHandler` loads the middleware in async mode. Every `MiddlewareMixin`
middleware (all of Django's) then runs its `process_request` and `process_response` through
`sync_to_async`, a hop into the request's thread and back: 17 hops for one write through this
project's eight middlewares (tests/plugboard/test_asgi.py counts them), ~1 ms of the ~14 ms of
CPU a 1,000-point write took in-process. Here the whole chain runs as it does under WSGI, in
one hop into the request's thread, and that hop also sends `request_started` and, for an
answer that is not streamed, closes the response (`request_finished`: the database connection
goes back to the pool) before its bytes go out: one hop per request where Django makes three.

Django also gives every request a thread of its own (`ThreadSensitiveContext()` makes a new
one-thread executor per request and shuts it down after): starting and joining that thread was
about a fifth of the server CPU of a one-point write (bench/request_path.py, py-spy). Here a
request takes an idle one-thread executor from the handler's free list (a new one only when all
are busy) and gives it back when it is done: still one request at a time per thread, each
request's own thread for its connection, no thread started per request.

Every view of the project is synchronous; an async one would still work (Django's sync path
runs it with `async_to_sync`), only less cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.urls import set_script_prefix

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

# A file response up to this size (every static asset WhiteNoise serves) is read in the request's
# thread; a larger one is left to Django's streaming.
READ_IN_THREAD_BYTES = 8 * 1024 * 1024
# Idle request threads kept for the next requests; more are made while more requests run at once
# (each ends with its request), so this bounds only the threads waiting idle.
IDLE_THREADS_KEPT = 32


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle_threads: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._idle_threads
        thread = idle.pop() if idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            if len(idle) < IDLE_THREADS_KEPT:
                idle.append(thread)  # a request cancelled mid-view: the next one waits for it
            else:
                thread.shutdown(wait=False)

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response: Any = await sync_to_async(self._serve, thread_sensitive=True)(scope, body_file)
            if not response.streaming:
                await self.send_response(response, send)
                return
            # A streamed answer (an export) stops when the client goes away, as in Django.
            tasks = [
                asyncio.create_task(self.listen_for_disconnect(receive)),
                asyncio.create_task(self.send_response(response, send)),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                    await task
            await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _serve(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """Everything of a request that runs in its thread, in one call."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response: Any = error_response if request is None else self._respond(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the connection goes back to the pool
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
