"""Private services for fault tests: a `redis-server` of the test's own on a free port, and a
`manage.py serve` process on the test database pointed at it. The machine's shared Redis and
PostgreSQL are never stopped; everything started here is removed at teardown. And a headless
Chromium for the browser tests (the console's, the edge's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess, accepts, free_port, serve, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


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
        assert wait_for(lambda: accepts(self.port), timeout=10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_server(django_db_blocker: Any, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `manage.py serve` on the test database with extra environment variables."""
    started: list[ServerProcess] = []

    def start(**env_overrides: str) -> ServerProcess:
        n = len(started)
        overrides = {"REDIS_URL": "", **env_overrides}
        server = serve(django_db_blocker, tmp_path / "server-var", tmp_path / f"server-{n}.log", **overrides)
        started.append(server)
        server.http("GET", "/warm-up", timeout=60)  # loads the URL conf and the views (slow when busy)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def within_one_minute() -> None:
    """An API key's rateLimit counts per calendar minute (UTC): a test that counts requests
    against it starts with at least 15 s of the minute left, so no boundary resets its count."""
    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.05)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which Django takes for
    # async code: the test's own ORM calls (fixtures, checks) are sync code all the same.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
