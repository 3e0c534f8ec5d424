"""A real `manage.py serve` process for the browser test, on the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import database_url, free_port

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class ConsoleServer:
    http_port: int
    mqtt_port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="module")
def console_server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    from django.conf import settings

    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PLUGBOARD_VAR_DIR": str(tmp_path_factory.mktemp("console-var")),
        "SECRET_KEY": settings.SECRET_KEY,  # the same key: digests and encrypted secrets agree
    }
    http_port, mqtt_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("console-log") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603
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
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", http_port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.2)
    yield ConsoleServer(http_port, mqtt_port, log_path)
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
