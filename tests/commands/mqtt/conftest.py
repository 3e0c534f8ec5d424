"""A real Plugboard server process (`manage.py serve`) on the test database, for real clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import database_url, free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class ServerProcess:
    http_port: int
    mqtt_port: int
    process: subprocess.Popen[bytes]

    def http(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"http://127.0.0.1:{self.http_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None


@pytest.fixture(scope="session")
def server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with django_db_blocker.unblock():
        url = database_url()
    env = {**os.environ, "DATABASE_URL": url, "PLUGBOARD_VAR_DIR": str(tmp_path_factory.mktemp("server-var"))}
    env.setdefault("SECRET_KEY", "")
    from django.conf import settings

    env["SECRET_KEY"] = settings.SECRET_KEY  # the same key: digests and encrypted secrets agree
    env["MQTT_PUBLISH_RATE"] = "2000"
    http_port, mqtt_port = free_port(), free_port()
    log = open(tmp_path_factory.mktemp("server-log") / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(http_port),
            "--mqtt-port",
            str(mqtt_port),
            "--no-expiry",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = ServerProcess(http_port, mqtt_port, process)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", mqtt_port), timeout=1):
                break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(log.name).read_text()}")
            time.sleep(0.2)
    else:
        raise RuntimeError("server did not start")
    yield srv
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _server_settled(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, let the server record its disconnects before the tables are flushed
    (a flush racing the server's last writes deadlocks on PostgreSQL)."""
    yield
    if "server" in request.fixturenames:
        from devices.models import Plug

        wait_for(lambda: not Plug.objects.filter(connected=True).exists(), timeout=10)
