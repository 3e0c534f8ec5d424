"""A real Plugboard server process (`manage.py serve`) on the test database, for real clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import ServerProcess, serve, wait_for

__all__ = ["ServerProcess"]


@pytest.fixture(scope="session")
def server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for the session, on the suite's channel layer (Redis under CI)."""
    srv = serve(
        django_db_blocker,
        tmp_path_factory.mktemp("server-var"),
        tmp_path_factory.mktemp("server-log") / "server.log",
        MQTT_PUBLISH_RATE="2000",
    )
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _server_settled(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, let the server record its disconnects before the tables are flushed
    (a flush racing the server's last writes deadlocks on PostgreSQL)."""
    yield
    if "server" in request.fixturenames:
        from devices.models import Plug

        wait_for(lambda: not Plug.objects.filter(connected=True).exists(), timeout=10)
