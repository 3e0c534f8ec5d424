"""Verified key secrets are remembered per `serve` process (devices.credential_cache) and
forgotten everywhere when credentials change: a revoked key is refused by every process
within a second (issue 30), through the channel layer, not when its memory ages out."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from devices import credential_cache
from tests.plugboard.conftest import RedisServer
from tests.support import ServerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

WITHIN_SECONDS = 1.0  # the bound; the memory itself lasts TTL_SECONDS


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def _ok(answer: tuple[int, Any]) -> Any:
    status, body = answer
    assert status in (200, 201), body
    return body


def _refused_everywhere(servers: tuple[ServerProcess, ...], write: Callable[[ServerProcess], int]) -> float:
    """Seconds until every server refuses the write (401), polling all of them."""
    started = time.monotonic()
    pending = set(range(len(servers)))
    while pending and time.monotonic() - started < 5 * WITHIN_SECONDS:
        pending = {n for n in pending if write(servers[n]) != 401}
    assert not pending, f"servers {sorted(pending)} still accept the revoked key"
    return time.monotonic() - started


@pytest.mark.parametrize("revocation", ["api client removed", "device key regenerated", "device disabled"])
def test_a_revoked_key_is_refused_by_every_process_within_a_second(
    start_server: Callable[..., ServerProcess], redis_server: RedisServer, tenant: Any, revocation: str
) -> None:
    assert credential_cache.TTL_SECONDS > 5 * WITHIN_SECONDS  # an aged-out memory cannot pass this
    servers = (start_server(REDIS_URL=redis_server.url), start_server(REDIS_URL=redis_server.url))
    master = _basic(tenant.email, tenant.password)
    device = _ok(servers[0].http("POST", "/v3/devices", {"name": "boiler"}, master))
    _ok(
        servers[0].http(
            "POST", f"/v3/devices/{device['id']}/properties", {"name": "t", "type": "number"}, master
        )
    )
    if revocation == "api client removed":
        key = _ok(servers[0].http("POST", "/v3/apiclients", {"context": {"type": "account"}}, master))
    else:
        key = _ok(servers[0].http("GET", f"/v3/devices/{device['id']}/apikey", headers=master))
    auth = _basic(key["id"], key["secret"])

    def write(server: ServerProcess) -> int:
        return server.http("POST", f"/v3/data/devices/{device['id']}", {"t": 1}, auth)[0]

    for server in servers * 3:  # verified, then answered from each process's memory
        assert write(server) == 200

    if revocation == "api client removed":
        _ok(servers[0].http("DELETE", f"/v3/apiclients/{key['id']}", headers=master))
    elif revocation == "device key regenerated":
        _ok(servers[0].http("POST", f"/v3/devices/{device['id']}/apikey", headers=master))
    else:
        _ok(servers[0].http("PUT", f"/v3/devices/{device['id']}", {"status": "disabled"}, master))
        # A disabled device's own key is refused with 403, not 401.
        started = time.monotonic()
        for server in servers:
            while write(server) != 403 and time.monotonic() - started < 5 * WITHIN_SECONDS:
                pass
            assert write(server) == 403
        assert time.monotonic() - started <= WITHIN_SECONDS
        return
    assert _refused_everywhere(servers, write) <= WITHIN_SECONDS
