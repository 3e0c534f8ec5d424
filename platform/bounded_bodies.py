"""The body limit (`PLUGBOARD_MAX_BODY`) applied by the HTTP server, before the body is read.

Daphne's request is a Twisted `http.Request`: Twisted reads the whole body (into memory, or a
temporary file past 100 KB) and only then does Daphne start the application, so no ASGI or
Django guard can act before the body has been received: a 200 MB upload was read in full
before the 413. Here the request itself refuses:

- a `Content-Length` over the limit as soon as the headers are in (`gotLength`), before one
  byte of the body is read, and without the `100 Continue` a client may be waiting for;
- a chunked body once what has arrived passes the limit (`handleContentChunk`), so at most
  the limit is ever kept.

The refusal is the dialect's 413 (`plugboard.errors.error_body`), then the connection closes:
the answer is sent, the write side shut (the client reads the answer and an end of stream),
and what the client still sends is read and dropped for up to `LINGER_SECONDS` and
`LINGER_BYTES` (so the answer is not lost to a reset while the client is still writing; a
lingering close, as Apache's), then the connection is cut.

A chunked body within the limit reaches the application with the `Content-Length` it turned
out to have: Django REST framework reads no body from a request without one (chunked bodies
were parsed as empty).

`install()` makes Daphne's HTTP factory build these requests; `serve` calls it before Daphne
starts.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import unquote

from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings
from twisted.web import http

from plugboard.errors import error_body

access_log = logging.getLogger("plugboard.access")

# How long, and how much, a refused connection is still read (what arrives dropped) after the
# answer before it is cut.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024


class BoundedRequest(WebRequest):  # type: ignore[misc]  # Daphne is untyped
    """Daphne's request, refusing a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` before reading it."""

    _refused = False
    _received = 0

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length is not None and length > limit:
            self._refuse(f"request body over {limit} bytes (Content-Length {length})")
            length = 0  # nothing of it is kept: no temporary file for it
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if self._refused:
            return
        self._received += len(data)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if self._received > limit:
            self._refuse(f"request body over {limit} bytes")
            return
        super().handleContentChunk(data)

    def process(self) -> Any:
        if self._refused:
            return None  # answered already; the rest of the body was never kept
        if self.requestHeaders.hasHeader(b"transfer-encoding"):
            # The body is complete and within the limit: the application sees its length.
            self.requestHeaders.removeHeader(b"transfer-encoding")
            self.requestHeaders.setRawHeaders(b"content-length", [str(self._received).encode()])
        return super().process()

    def _refuse(self, message: str) -> None:
        """Answer 413 in the dialect's shape now and close the connection (see the module)."""
        started = time.perf_counter()
        self._refused = True
        # Twisted answers `Expect: 100-continue` right after `gotLength`: no invitation to send.
        self.requestHeaders.removeHeader(b"expect")
        channel = self.channel
        # The request line, as Twisted's channel holds it until the body is complete.
        method = getattr(channel, "_command", b"").decode("ascii", "replace")
        target = getattr(channel, "_path", b"/").split(b"?", 1)[0]
        path = unquote(target.decode("ascii", "replace"))
        body = json.dumps(error_body(path, 413, message)).encode()
        transport = channel.transport
        transport.write(
            b"HTTP/1.1 413 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (http.RESPONSES[413], len(body), body)
        )
        if hasattr(transport, "loseWriteConnection"):
            from twisted.internet import reactor as installed  # the one Daphne installed

            clock: Any = installed  # zope interfaces, which mypy cannot follow
            transport.loseWriteConnection()
            cut = clock.callLater(LINGER_SECONDS, transport.abortConnection)
            dropped = 0

            def discard(data: bytes) -> None:
                nonlocal dropped
                dropped += len(data)
                if dropped > LINGER_BYTES and cut.active():
                    cut.cancel()
                    transport.abortConnection()

            channel.dataReceived = discard
        else:
            channel.dataReceived = lambda data: None
            transport.loseConnection()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s",
                method,
                path,
                413,
                extra={
                    "method": method,
                    "path": path,
                    "status": 413,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "credential": None,
                },
            )


class BoundedHTTPFactory(HTTPFactory):  # type: ignore[misc]  # Daphne is untyped
    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 - Twisted's name
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedRequest
        return protocol


def install() -> None:
    """Make Daphne's server build `BoundedRequest`s (its `run` makes its factory by this name)."""
    import daphne.server

    daphne.server.HTTPFactory = BoundedHTTPFactory
