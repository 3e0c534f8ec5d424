"""SPEC §3 limits: failures per (credential, address) and per address; an API key's rateLimit."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from devices.identity import CONNACK_BAD_CREDENTIALS, CONNACK_NOT_AUTHORIZED, verify_mqtt
from plugboard.services import key_create
from tests.conftest import Tenant, basic

pytestmark = pytest.mark.django_db

WRONG = "0" * 32


def _wrong(enrolled: Any) -> dict[str, str]:
    return {"HTTP_X_PLUG_ID": enrolled.plug.id, "HTTP_X_PLUG_AUTH": WRONG}


def _right(enrolled: Any) -> dict[str, str]:
    return {"HTTP_X_PLUG_ID": enrolled.plug.id, "HTTP_X_PLUG_AUTH": enrolled.auth}


def test_one_devices_failures_do_not_lock_out_its_neighbours(api: APIClient, tenant: Tenant) -> None:
    # Two devices behind one NAT: the first one's 20 wrong secrets slow its wrong secrets only.
    bad, good = tenant.plug("bad-one"), tenant.plug("good-one")

    failures = [api.get(f"/iot/device/{bad.plug.id}", **_wrong(bad)).status_code for _ in range(21)]
    neighbour = api.get(f"/iot/device/{good.plug.id}", **_right(good))
    itself = api.get(f"/iot/device/{bad.plug.id}", **_right(bad))
    wrong_again = api.get(f"/iot/device/{bad.plug.id}", **_wrong(bad))

    assert failures == [401] * 20 + [429]
    assert neighbour.status_code == 200
    # A key's secret cannot be guessed: the right one is accepted even after its id's failures
    # (which anyone who knows the id could cause).
    assert itself.status_code == 200
    assert (wrong_again.status_code, wrong_again["Retry-After"]) == (429, "60")


def test_a_password_is_slowed_per_email_and_address(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    wrong = {"HTTP_X_PLUG_EMAIL": tenant.email, "HTTP_X_PLUG_MASTER": "not-it"}
    failures = [api.get("/iot/data", **wrong).status_code for _ in range(20)]
    right_from_there = api.get("/iot/data", **tenant.master_headers())
    right_from_elsewhere = APIClient(REMOTE_ADDR="192.0.2.9").get("/iot/data", **tenant.master_headers())
    other_email = api.get("/iot/data", **other_tenant.master_headers())

    assert failures == [401] * 20
    assert (right_from_there.status_code, right_from_there["Retry-After"]) == (429, "60")
    assert right_from_elsewhere.status_code == 200
    assert other_email.status_code == 200


def test_an_address_has_a_higher_ceiling_for_passwords_only(
    api: APIClient, tenant: Tenant, thing: Any, settings: Any
) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "ADDRESS_FAILURES_PER_MINUTE": 5}
    user_key, user_secret = tenant.user_key()
    # Five made-up emails failing once each reach this address's ceiling (5 here)…
    failures = [
        api.get("/iot/data", **basic(f"nobody{n}@example.com", "guess")).status_code for n in range(5)
    ]
    password_there = api.get("/iot/data", **tenant.master_headers())
    password_elsewhere = APIClient(REMOTE_ADDR="192.0.2.9").get("/iot/data", **tenant.master_headers())
    # …which slows passwords from there, never keys: a plug's auth and a user key still work.
    plug_there = api.get(f"/iot/device/{thing.plug.id}", **_right(thing))
    user_key_there = api.get("/v3/devices", **basic(user_key, user_secret))

    assert failures == [401] * 5
    assert password_there.status_code == 429
    assert password_elsewhere.status_code == 200
    assert (plug_there.status_code, user_key_there.status_code) == (200, 200)


def test_mqtt_connect_failures_count_per_username_and_address(tenant: Tenant, thing: Any) -> None:
    other = tenant.plug("other")
    tries = [verify_mqtt(other.plug.id, other.key.id, b"wrong", peer="198.51.100.4") for _ in range(21)]

    neighbour = verify_mqtt(thing.plug.id, thing.key.id, thing.auth.encode(), peer="198.51.100.4")
    itself = verify_mqtt(other.plug.id, other.key.id, other.auth.encode(), peer="198.51.100.4")
    elsewhere = verify_mqtt(other.plug.id, other.key.id, b"wrong", peer="198.51.100.5")

    assert tries == [CONNACK_BAD_CREDENTIALS] * 20 + [CONNACK_NOT_AUTHORIZED]
    assert isinstance(neighbour, tuple) and neighbour[1] == thing.plug.id
    assert isinstance(itself, tuple) and itself[1] == other.plug.id
    assert elsewhere == CONNACK_BAD_CREDENTIALS


@pytest.fixture
def limited_client(tenant: Tenant) -> Callable[[int], dict[str, str]]:
    def make(rate_limit: int) -> dict[str, str]:
        key, secret = key_create(
            account=tenant.account, kind="apiclient", scope=["*"], rate_limit=rate_limit, name="limited"
        )
        return basic(key.id, secret)

    return make


@pytest.mark.usefixtures("within_one_minute")
def test_an_api_keys_rate_limit_is_enforced_per_minute(
    api: APIClient, tenant: Tenant, limited_client: Callable[[int], dict[str, str]]
) -> None:
    headers, unlimited = limited_client(5), limited_client(0)

    statuses = [api.get("/iot/data", **headers).status_code for _ in range(6)]
    refused = api.get("/iot/data", **headers)
    others = [api.get("/iot/data", **unlimited).status_code for _ in range(10)]

    assert statuses == [200] * 5 + [429]
    assert refused.status_code == 429
    assert set(refused.json()) == {"err", "msg"} and refused.json()["err"] == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert others == [200] * 10  # a key without a limit, of the same account


@pytest.mark.usefixtures("within_one_minute")
def test_the_property_dialect_answers_its_own_429_shape(
    api: APIClient, limited_client: Callable[[int], dict[str, str]]
) -> None:
    headers = limited_client(1)

    first = api.get("/v3/devices", **headers)
    second = api.get("/v3/devices", **headers)

    assert first.status_code == 200
    assert second.status_code == 429
    [error] = second.json()
    assert error["code"] == 429 and error["cause"] == "TooManyRequests" and error["message"]
    assert int(second["Retry-After"]) >= 1


@pytest.mark.usefixtures("within_one_minute")
def test_a_device_keys_rate_limit_counts_its_plug_auth_requests(api: APIClient, thing: Any) -> None:
    thing.key.rate_limit = 2
    thing.key.save(update_fields=["rate_limit"])

    statuses = [api.get(f"/iot/device/{thing.plug.id}", **_right(thing)).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_daphne_sends_the_429_reason_phrase(start_server: Callable[..., Any]) -> None:
    # Twisted's status table had no 429: the status line read "429 Unknown Status".
    server = start_server(PLUGBOARD_AUTH_FAILURES_PER_MINUTE="0")  # every credential is over budget
    request = (
        b"GET /iot/data HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Plug-Id: dev-000000000000000000000000\r\n"
        b"X-Plug-Auth: " + WRONG.encode() + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 429 Too Many Requests"
    assert b"\r\nretry-after: 60\r\n" in rest.lower()


# --- behind a load balancer (PLUGBOARD_TRUSTED_PROXIES) ------------------------------------------


def test_forwarded_addresses_count_only_from_a_trusted_proxy(settings: Any) -> None:
    from plugboard.ratelimits import address_behind

    settings.PLUGBOARD_TRUSTED_PROXIES = ["10.0.0.0/24", "::1"]
    assert address_behind("10.0.0.5", "203.0.113.9") == "203.0.113.9"
    # A client's own claim (further left) is never taken; the balancer's appended hop is.
    assert address_behind("10.0.0.5", "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    assert address_behind("10.0.0.5", "203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert address_behind("::1", "2001:db8::7") == "2001:db8::7"
    # Not from a trusted proxy, or a malformed header: the peer's own address.
    assert address_behind("192.0.2.1", "203.0.113.9") == "192.0.2.1"
    assert address_behind("10.0.0.5", "not-an-address") == "10.0.0.5"
    assert address_behind("10.0.0.5", None) == "10.0.0.5"


def test_failures_behind_a_trusted_balancer_count_per_client(
    api: APIClient, tenant: Tenant, thing: Any, settings: Any
) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "ADDRESS_FAILURES_PER_MINUTE": 5}
    settings.PLUGBOARD_TRUSTED_PROXIES = ["127.0.0.1"]
    behind = {"REMOTE_ADDR": "127.0.0.1"}
    failing = [
        api.get(
            "/iot/data", HTTP_X_FORWARDED_FOR="203.0.113.9", **behind, **basic(f"n{n}@example.com", WRONG)
        )
        for n in range(5)
    ]
    assert [r.status_code for r in failing] == [401] * 5
    blocked = api.get("/iot/data", HTTP_X_FORWARDED_FOR="203.0.113.9", **behind, **tenant.master_headers())
    neighbour = api.get("/iot/data", HTTP_X_FORWARDED_FOR="203.0.113.10", **behind, **tenant.master_headers())
    assert (blocked.status_code, neighbour.status_code) == (429, 200)


def _connack(sock: socket.socket) -> int:
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            break
        answer += chunk
    assert answer[:2] == b"\x20\x02", answer
    return answer[3]


def _connect(port: int, proxy_from: str | None, client_id: str, password: bytes) -> int:
    from commands.mqtt.protocol.packets import encode_connect

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if proxy_from:
            sock.sendall(f"PROXY TCP4 {proxy_from} 127.0.0.1 40000 1883\r\n".encode())
        sock.sendall(
            encode_connect(client_id, clean_session=True, keepalive=30, username=client_id, password=password)
        )
        return _connack(sock)


@pytest.mark.django_db(transaction=True)
def test_mqtt_tcp_behind_a_trusted_balancer_reads_the_proxy_line(
    start_server: Callable[..., Any], tenant: Tenant, thing: Any
) -> None:
    server = start_server(PLUGBOARD_TRUSTED_PROXIES="127.0.0.1", PLUGBOARD_AUTH_FAILURES_PER_MINUTE="3")
    port = server.mqtt_port
    # Three wrong secrets for one plug from one address behind the balancer use up its budget…
    bad = [_connect(port, "203.0.113.9", thing.plug.id, WRONG.encode()) for _ in range(4)]
    assert bad == [CONNACK_BAD_CREDENTIALS] * 3 + [CONNACK_NOT_AUTHORIZED]
    # …not another client's behind the same balancer, nor one's without a PROXY line; and the
    # right secret is accepted from everywhere.
    assert _connect(port, "203.0.113.10", thing.plug.id, WRONG.encode()) == CONNACK_BAD_CREDENTIALS
    assert _connect(port, None, thing.plug.id, WRONG.encode()) == CONNACK_BAD_CREDENTIALS
    assert _connect(port, "203.0.113.9", thing.plug.id, thing.auth.encode()) == 0


def test_a_proxy_line_from_an_untrusted_peer_is_a_malformed_packet(
    start_server: Callable[..., Any], thing: Any
) -> None:
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=10) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 1883\r\n")
        assert sock.recv(16) == b""  # closed: nobody may claim another address
