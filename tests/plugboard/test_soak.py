"""The soak of bench/soak.py for 60 seconds against a real server (at a tenth of its rates: CI
shares its cores): HTTP in both dialects, MQTT over TCP and WebSocket, commands, the purge.
Accepted == stored == journalled, every command acked, every expired point purged."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from devices.models import Property
from tests.conftest import Tenant
from tests.support import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import soak  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SECONDS = float(os.environ.get("PLUGBOARD_SOAK_SECONDS", 60))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _sql(query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def _purge() -> Any:
    from data.expiry import expiry_purge

    try:
        return expiry_purge()
    finally:
        connection.close()  # the purge thread's own connection


@pytest.mark.timeout(150)
def test_soak_60_seconds(start_server: Callable[..., ServerProcess], tenant: Tenant) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    server = start_server(REDIS_URL=os.environ.get("REDIS_URL", ""))
    made = {
        name: tenant.plug(f"soak-{name}") for name in ("channel", "prop", "mqtt-tcp", "mqtt-ws", "command")
    }
    Property.objects.create(plug=made["command"].plug, name="setpoint", type="number", access="public")
    plugs = {name: soak.Plug(e.plug.id, e.key.id, e.auth) for name, e in made.items()}
    runner = soak.Soak(
        http_port=server.http_port,
        mqtt_port=server.mqtt_port,
        plugs=plugs,
        account=(tenant.email, tenant.password),
        sql=_sql,
        purge=_purge,
        rss=lambda: _rss_kb(server.process.pid),
        rates=soak.Rates().scaled(0.1),
        purge_every=10,
        report_every=15,
    )

    result = runner.run(SECONDS)

    print(result.table())
    assert not result.errors, result.errors[:10]
    for name, stream in result.streams.items():
        assert stream.accepted > 0 and not stream.refused, (name, stream.refused[:5])
        if name != "ttl":
            assert stream.accepted == result.stored[name] == result.journalled[name], (name, result.table())
    assert result.journalled["ttl"] == result.streams["ttl"].accepted and result.ttl_left == 0
    assert set(result.commands) == {"acked"} and sum(result.commands.values()) >= 10
    assert result.purges >= 2
    assert result.ok
