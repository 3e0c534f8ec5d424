"""Fixtures for outbound delivery through a real server: the private redis-server of
tests/plugboard, and a `manage.py serve` on the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugboard.conftest import redis_server
from tests.support import ServerProcess, serve

__all__ = ["redis_server", "outbound_server"]


@pytest.fixture
def outbound_server(django_db_blocker: Any, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `manage.py serve` (embedded Redis-less by default) with extra environment variables.
    Its first request collects static files into its fresh var directory: under a shared
    machine's load that takes longer than a request's usual 10 s, so the warm-up waits longer."""
    started: list[ServerProcess] = []

    def start(**env_overrides: str) -> ServerProcess:
        overrides = {"REDIS_URL": "", **env_overrides}
        server = serve(django_db_blocker, tmp_path / "server-var", tmp_path / "server.log", **overrides)
        started.append(server)
        server.http("GET", "/warm-up", timeout=120)
        return server

    yield start
    for server in started:
        server.stop()
