"""SPEC §7: MQTT sessions belong to an account — with real clients over TCP against `manage.py serve`.

The same client id twice within one account closes the older session (`test_endpoint.py`); the
same free-form client id in another account is another session; a client id that names another
account's plug is refused (CONNACK 0x05) and changes nothing of that plug's session.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from commands.models import Command
from devices.identity import CONNACK_NOT_AUTHORIZED, verify_mqtt
from devices.models import Property
from plugboard.principals import Scope
from plugboard.services import apiclient_create
from tests.commands.mqtt.clients import Device, connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NOT_AUTHORIZED = (5, 135)  # paho 2 reports CONNACK 5 as reason code 135, "Not authorized"


def _api_client(tenant: Any, *scope: Scope) -> tuple[str, str]:
    key, secret = apiclient_create(account=tenant.account, scope=list(scope or (Scope.READ,)))
    return key.id, secret


def _commands(plug_id: str) -> str:
    return f"csipio/data/in/devices/{plug_id}/properties/#"


def _master(tenant: Any) -> dict[str, str]:
    return {"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}


def test_another_accounts_keys_cannot_take_my_plugs_client_id(
    server: Any, tenant: Any, thing: Any, other_tenant: Any
) -> None:
    Property.objects.create(plug=thing.plug, name="mode", type="string", access="public")
    device = connect_device(server, thing, clean=False)
    device.client.subscribe(_commands(thing.plug.id), qos=1)
    assert wait_for(lambda: device.subacks) == [[1]]
    strangers = {
        "user key": other_tenant.user_key(),
        "read-only API client key": _api_client(other_tenant, Scope.READ),
        "API client key": _api_client(other_tenant, Scope.ALL),
    }
    try:
        for kind, (key_id, secret) in strangers.items():
            for clean in (True, False):
                stranger = Device(server, thing.plug.id, key_id, secret, clean=clean)
                try:
                    assert wait_for(lambda s=stranger: s.connack)[0] in NOT_AUTHORIZED, kind
                finally:
                    stranger.client.loop_stop()
        # The device's connection is untouched: a publish is still acknowledged.
        info = device.client.publish(f"csipio/data/out/devices/{thing.plug.id}/properties/t", "1", qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published() and not device.disconnected.is_set()
    finally:
        device.stop()
    # And so is its session: it comes back with its subscription, and a command reaches it.
    again = connect_device(server, thing, clean=False)
    try:
        assert again.connack == [0] and again.session_present == [True]
        status, receipt = server.http(
            "POST", f"/v3/data/devices/{thing.plug.id}", {"mode": "eco"}, _master(tenant)
        )
        assert status == 200, receipt
        assert wait_for(lambda: again.messages), "the kept subscription did not deliver the command"
        assert json.loads(again.messages[0].payload) == "eco"
    finally:
        again.stop()


def test_the_same_free_form_client_id_in_two_accounts_is_two_sessions(
    server: Any, tenant: Any, other_tenant: Any
) -> None:
    mine, theirs = _api_client(tenant), _api_client(other_tenant)
    first = Device(server, "console-1", *mine, clean=False)
    assert wait_for(lambda: first.connack) == [0]
    first.client.subscribe("+/data/#", qos=1)
    assert wait_for(lambda: first.subacks) == [[1]]
    second = Device(server, "console-1", *theirs, clean=False)
    try:
        assert wait_for(lambda: second.connack) == [0]
        assert second.session_present == [False]  # not the other account's session
        # A round trip on each after the second CONNECT: neither was closed by the other.
        second.client.subscribe("+/data/x", qos=0)
        first.client.subscribe("+/data/x", qos=0)
        assert wait_for(lambda: second.subacks == [[0]] and len(first.subacks) == 2)
        assert not first.disconnected.is_set() and not second.disconnected.is_set()
    finally:
        second.stop()
    # The other account's clean session discards its own session only.
    clean = Device(server, "console-1", *theirs, clean=True)
    assert wait_for(lambda: clean.connack) == [0]
    clean.stop()
    first.stop()
    back = Device(server, "console-1", *mine, clean=False)
    try:
        assert wait_for(lambda: back.connack) == [0]
        assert back.session_present == [True]
    finally:
        back.stop()


def test_a_free_form_client_id_up_to_128_characters_connects_and_no_longer(server: Any, tenant: Any) -> None:
    key = _api_client(tenant)
    longest = Device(server, "console-" + "x" * 120, *key, clean=False)  # longer than a group name
    try:
        assert wait_for(lambda: longest.connack) == [0]
    finally:
        longest.stop()
    too_long = Device(server, "console-" + "x" * 121, *key, clean=False)
    try:
        assert wait_for(lambda: too_long.connack)[0] in NOT_AUTHORIZED
    finally:
        too_long.client.loop_stop()


def test_verifying_a_key_with_another_accounts_plug_id_costs_one_query(
    tenant: Any, other_tenant: Any, thing: Any
) -> None:
    key_id, secret = other_tenant.user_key()
    mine = other_tenant.plug("mine")

    def verdict(client_id: str) -> Any:
        return verify_mqtt(client_id, key_id, secret.encode())

    verdict("console-1")  # the credential is now verified and cached
    with CaptureQueriesContext(connection) as free_form:
        assert verdict("console-1")[1] is None
    with CaptureQueriesContext(connection) as foreign:
        assert verdict(thing.plug.id) == CONNACK_NOT_AUTHORIZED
    assert len(foreign) == len(free_form) + 1
    # A plug of the key's own account, and names or hwids, are the account's own client ids.
    assert verdict(mine.plug.id)[1] is None
    assert verdict(thing.plug.name)[1] is None


def test_a_resumed_session_does_not_resend_retained_values_before_the_resubscribe(
    server: Any, tenant: Any, thing: Any
) -> None:
    """MQTT 3.1.1 §3.3.1.3: retained messages go to a new subscription, not to a resumed session.

    A device that comes back with its persistent session and subscribes again (what paho and
    mosquitto_sub do) must get the retained value once, after its SUBSCRIBE — it got it twice.
    """
    Property.objects.create(plug=thing.plug, name="mode", type="string", access="public")
    status, receipt = server.http(
        "POST", f"/v3/data/devices/{thing.plug.id}", {"mode": "eco"}, _master(tenant)
    )
    assert status == 200 and receipt == {"accepted": 1, "rejected": 0}
    first = connect_device(server, thing, clean=False)
    try:
        first.client.subscribe(_commands(thing.plug.id), qos=1)
        assert wait_for(lambda: first.subacks) == [[1]]
        assert wait_for(lambda: first.messages)  # the pending command, acknowledged by paho
        assert wait_for(lambda: Command.objects.filter(plug=thing.plug, state="acked").exists())
    finally:
        first.stop()
    again = connect_device(server, thing, clean=False)
    try:
        assert again.session_present == [True]
        again.client.subscribe(_commands(thing.plug.id), qos=1)
        assert wait_for(lambda: again.subacks) == [[1]]
        info = again.client.publish(f"csipio/data/out/devices/{thing.plug.id}/properties/t", "1", qos=1)
        info.wait_for_publish(timeout=10)  # a round trip: anything sent before it has arrived
        retained = [m for m in again.messages if m.retain]
        assert [json.loads(m.payload) for m in retained] == ["eco"], again.messages
        assert not [m for m in again.messages if not m.retain], "the acked command came again"
    finally:
        again.stop()
