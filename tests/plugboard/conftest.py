"""Private services for fault tests: a `redis-server` of the test's own on a free port, and a
`manage.py serve` process on the test database pointed at it. The machine's shared Redis and
PostgreSQL are never stopped; everything started here is removed at teardown."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import database_url, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RedisServer:
    """A private redis-server without persistence: stopping it loses everything, like an outage."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: _accepts(self.port), timeout=10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class ServerProcess:
    http_port: int
    mqtt_port: int
    process: subprocess.Popen[bytes]
    log: Path
    timings: list[float] = field(default_factory=list)

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"http://127.0.0.1:{self.http_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def timed_http(self, method: str, path: str, **kw: Any) -> tuple[int, Any, float]:
        started = time.monotonic()
        status, body = self.http(method, path, **kw)
        return status, body, time.monotonic() - started


@pytest.fixture
def start_server(django_db_blocker: Any, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `manage.py serve` on the test database with extra environment variables."""
    started: list[ServerProcess] = []

    def start(**env_overrides: str) -> ServerProcess:
        from django.conf import settings

        with django_db_blocker.unblock():
            url = database_url()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": "",
            "PLUGBOARD_VAR_DIR": str(tmp_path / "server-var"),
            "SECRET_KEY": settings.SECRET_KEY,  # the same key: digests and encrypted secrets agree
            **env_overrides,
        }
        http_port, mqtt_port = free_port(), free_port()
        log = tmp_path / f"server-{len(started)}.log"
        command = [sys.executable, "manage.py", "serve", "--port", str(http_port)]
        command += ["--mqtt-port", str(mqtt_port), "--no-expiry"]
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        server = ServerProcess(http_port, mqtt_port, process, log)
        started.append(server)
        if not wait_for(
            lambda: process.poll() is not None or (_accepts(http_port) and _accepts(mqtt_port)), timeout=40
        ) or (process.poll() is not None):
            raise RuntimeError(f"server did not start: {log.read_text()}")
        server.http("GET", "/warm-up")  # the first request loads the URL conf and the views
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
