"""Revoked credentials end their open MQTT connections (SPEC §3: nothing revoked keeps
working), against the live server and through its API (so on the embedded default too, whose
channel layer is the server's own memory): a user or API client key removed or regenerated, a
user disabled, an account suspended — each closes the connections that used them, only those."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.commands.mqtt.clients import Device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def _ok(answer: tuple[int, Any]) -> Any:
    status, body = answer
    assert status in (200, 201), body
    return body


def _connected(server: Any, client_id: str, key_id: str, secret: str) -> Device:
    client = Device(server, client_id, key_id, secret)
    assert wait_for(lambda: client.connack) == [0]
    return client


def test_a_removed_or_regenerated_api_client_key_is_disconnected(server: Any, tenant: Any) -> None:
    master = _basic(tenant.email, tenant.password)
    made = [
        _ok(server.http("POST", "/v3/apiclients", {"context": {"type": "account"}}, master)) for _ in range(3)
    ]
    clients = [_connected(server, f"integration-{n}", k["id"], k["secret"]) for n, k in enumerate(made)]
    try:
        _ok(server.http("DELETE", f"/v3/apiclients/{made[0]['id']}", headers=master))
        _ok(server.http("POST", f"/v3/apiclients/{made[1]['id']}/apikey", headers=master))
        assert clients[0].disconnected.wait(10) and clients[1].disconnected.wait(10)
        assert not clients[2].disconnected.wait(1)
    finally:
        for client in clients:
            client.stop()


def test_a_disabled_user_and_a_suspended_account_are_disconnected(server: Any, tenant: Any) -> None:
    master = _basic(tenant.email, tenant.password)
    user = _ok(server.http("POST", "/v3/users", {"email": "dev@example.com", "role": "developer"}, master))
    sub = _ok(
        server.http("POST", "/v3/accounts", {"name": "eu", "user": {"email": "eu@example.com"}}, master)
    )
    in_sub = f"/v3/accounts/{sub['id']}"
    device = _ok(server.http("POST", f"{in_sub}/devices", {"name": "boiler"}, master))
    key = _ok(server.http("GET", f"{in_sub}/devices/boiler/apikey", headers=master))
    own = _ok(server.http("POST", "/v3/devices", {"name": "own"}, master))
    own_key = _ok(server.http("GET", "/v3/devices/own/apikey", headers=master))

    user_client = _connected(server, "dev-laptop", user["apiKey"]["id"], user["apiKey"]["secret"])
    sub_admin = _connected(server, "eu-console", sub["apiKey"]["id"], sub["apiKey"]["secret"])
    sub_device = _connected(server, device["id"], key["id"], key["secret"])
    own_device = _connected(server, own["id"], own_key["id"], own_key["secret"])
    try:
        _ok(server.http("PUT", f"/v3/users/{user['id']}", {"status": "disabled"}, master))
        assert user_client.disconnected.wait(10)
        assert not sub_device.disconnected.wait(0.5)

        _ok(server.http("PUT", in_sub, {"status": "suspended"}, master))
        assert sub_device.disconnected.wait(10) and sub_admin.disconnected.wait(10)
        assert not own_device.disconnected.wait(1)  # the parent's own device stays
    finally:
        for client in (user_client, sub_admin, sub_device, own_device):
            client.stop()


def test_an_api_client_whose_scope_changes_is_disconnected_and_a_rename_is_not(
    server: Any, tenant: Any
) -> None:
    """A session's rights were read at CONNECT: a new scope or context ends it (the client
    reconnects with the new rights); a new name or description changes nothing it may do."""
    master = _basic(tenant.email, tenant.password)
    made = [
        _ok(server.http("POST", "/v3/apiclients", {"context": {"type": "account"}}, master)) for _ in range(2)
    ]
    clients = [_connected(server, f"changed-{n}", k["id"], k["secret"]) for n, k in enumerate(made)]
    try:
        _ok(server.http("PUT", f"/v3/apiclients/{made[1]['id']}", {"description": "renamed"}, master))
        _ok(server.http("PUT", f"/v3/apiclients/{made[0]['id']}", {"scope": ["device:read-data"]}, master))
        assert clients[0].disconnected.wait(10)
        assert not clients[1].disconnected.wait(1)
    finally:
        for client in clients:
            client.stop()
