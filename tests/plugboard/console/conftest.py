"""A real `manage.py serve` process for the browser test, on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import ServerProcess, serve


@pytest.fixture(scope="module")
def console_server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = serve(
        django_db_blocker,
        tmp_path_factory.mktemp("console-var"),
        tmp_path_factory.mktemp("console-log") / "server.log",
    )
    yield srv
    srv.stop()
