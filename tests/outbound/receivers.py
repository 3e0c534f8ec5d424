"""Real counterparts for outbound tests: an HTTP receiver on a free loopback port."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A thread running `http.server`: records every request; answers `status` (503 while
    `down`); holds each request while `hold` is clear, when `holding` is set."""

    port: int = field(default_factory=free_port)
    status: int = 200
    down: bool = False
    holding: bool = False
    requests: list[Received] = field(default_factory=list)  # the answered with 2xx
    seen: list[Received] = field(default_factory=list)  # every request, whatever its answer
    answered: int = 0
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    redirect_to: str = ""

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(self.path, dict(self.headers.items()), body)
                receiver.seen.append(received)
                receiver.arrived.set()
                if receiver.holding:
                    receiver.hold.wait(timeout=60)
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.end_headers()
                    return
                status = 503 if receiver.down else receiver.status
                if status < 300:
                    receiver.requests.append(received)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.answered += 1

            do_PUT = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
