"""Zero-touch provisioning over MQTT (SPEC §7), against the live server with paho-mqtt: a
provisioning key finds or creates the device its custom id names, within the profile or
template it allows, and answers on `connio/provisions/{clientId}`; anything else is refused
with an answer saying why, or the connection is closed — and nothing is created."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from devices.models import DeviceProfile, Plug, Property
from devices.services.plugs import template_create
from devices.services.profiles import ProfileFields, profile_create, profile_property_define
from plugboard.models import ApiKey
from plugboard.principals import Principal
from plugboard.services import apiclient_create
from tests.commands.mqtt.clients import Device, connect_device
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = 0x80


def _profile(tenant: Any, name: str = "meter") -> DeviceProfile:
    owner = Principal(account_id=tenant.account.id, kind="account", credential="test")
    profile = profile_create(principal=owner, fields=ProfileFields(name=name))
    profile_property_define(principal=owner, profile=profile, name="config", type="object", access="public")
    return profile


def _key(tenant: Any, context_type: str, ids: list[str]) -> tuple[ApiKey, str]:
    return apiclient_create(
        account=tenant.account, scope=["device:provision"], context_type=context_type, context_ids=ids
    )


def _ask(server: Any, key: ApiKey, secret: str, body: Any, client_id: str = "factory-1") -> Any:
    """Connect, subscribe to the answers, publish one request; the answer (parsed)."""
    client = Device(server, client_id, key.id, secret)
    try:
        assert wait_for(lambda: client.connack) == [0]
        client.client.subscribe(f"connio/provisions/{client_id}", qos=1)
        assert wait_for(lambda: client.subacks) == [[1]]
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        client.client.publish("connio/provisions", payload, qos=1)
        assert wait_for(lambda: client.messages, timeout=10), "no answer"
        message = client.messages[0]
        assert message.topic == f"connio/provisions/{client_id}"
        return json.loads(message.payload)
    finally:
        client.stop()


def test_profile_key_creates_once_and_answers_the_config(server: Any, tenant: Any) -> None:
    profile = _profile(tenant)
    key, secret = _key(tenant, ApiKey.ContextType.PROFILE, [profile.id])
    first = _ask(server, key, secret, {"sn": "A-100", "configProperty": "config"})
    assert set(first) >= {"deviceId", "apiKeyId", "apiSecret", "config"} and first["created"] is True
    plug = Plug.objects.get(id=first["deviceId"])
    assert plug.profile_id == profile.id and plug.props["_v3"]["customIds"] == {"sn": "A-100"}
    assert Property.objects.filter(plug=plug, name="config", inherited_from__isnull=False).exists()

    Property.objects.filter(plug=plug, name="config").update(last_value={"period": 60})
    again = _ask(server, key, secret, {"sn": "A-100", "configProperty": "config"})
    assert (again["deviceId"], again["apiKeyId"], again["apiSecret"]) == (
        first["deviceId"],
        first["apiKeyId"],
        first["apiSecret"],
    )
    assert again["config"] == {"period": 60} and again["created"] is False
    assert Plug.objects.filter(account=tenant.account).count() == 1

    # The answer is the device's identity: it connects with it.
    device = Device(server, first["deviceId"], first["apiKeyId"], first["apiSecret"])
    assert wait_for(lambda: device.connack) == [0]
    device.stop()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        ([1, 2], 400),
        ({"configProperty": "config"}, 400),
        ({"mac": "a", "sn": "b"}, 400),
        ({"mac": 12}, 400),
        ({"mac": ""}, 400),
        ({"bad type!": "x"}, 400),
        ({"a__b": "x"}, 400),
        ({"mac": "x" * 129}, 400),
        ({"mac": "a", "configProperty": 5}, 400),
    ],
)
def test_malformed_requests_get_an_error_and_create_nothing(
    server: Any, tenant: Any, body: Any, status: int
) -> None:
    profile = _profile(tenant)
    key, secret = _key(tenant, ApiKey.ContextType.PROFILE, [profile.id])
    answer = _ask(server, key, secret, body)
    assert answer["error"]["code"] == status and answer["error"]["message"]
    assert not Plug.objects.filter(account=tenant.account).exists()


def test_an_id_type_named_like_a_lookup_is_still_a_custom_id(server: Any, tenant: Any) -> None:
    profile = _profile(tenant)
    key, secret = _key(tenant, ApiKey.ContextType.PROFILE, [profile.id])
    first = _ask(server, key, secret, {"contains": "x-1"})
    assert _ask(server, key, secret, {"contains": "x-1"})["deviceId"] == first["deviceId"]
    assert _ask(server, key, secret, {"isnull": "x-1"})["deviceId"] != first["deviceId"]
    assert Plug.objects.filter(account=tenant.account).count() == 2


def test_account_context_finds_only(server: Any, tenant: Any) -> None:
    known = tenant.plug("known", props={"_v3": {"customIds": {"mac": "aa:bb"}}})
    key, secret = _key(tenant, ApiKey.ContextType.ACCOUNT, [])
    found = _ask(server, key, secret, {"mac": "aa:bb"})
    assert found["deviceId"] == known.plug.id and found["apiSecret"] == known.auth
    missing = _ask(server, key, secret, {"mac": "cc:dd"})
    assert missing["error"]["code"] == 404
    assert Plug.objects.filter(account=tenant.account).count() == 1


def test_template_key_enrolls_listed_hwids_only(server: Any, tenant: Any) -> None:
    template = template_create(account=tenant.account, name="line", hwids=[("HW-1", "pw", None)])
    key, secret = _key(tenant, ApiKey.ContextType.TEMPLATE, [template.id])
    made = _ask(server, key, secret, {"hwid": "HW-1"})
    plug = Plug.objects.get(id=made["deviceId"])
    assert (plug.origin, plug.hwid, plug.template_id) == (Plug.Origin.PRODUCTION, "HW-1", template.id)
    assert _ask(server, key, secret, {"hwid": "HW-1"})["deviceId"] == plug.id
    assert _ask(server, key, secret, {"hwid": "HW-2"})["error"]["code"] == 404
    assert Plug.objects.filter(account=tenant.account).count() == 1


def test_other_keys_and_other_clients_answers_are_refused(
    server: Any, tenant: Any, other_tenant: Any
) -> None:
    profile = _profile(tenant)
    key, secret = _key(tenant, ApiKey.ContextType.PROFILE, [profile.id])
    # Someone else's answers: SUBACK 0x80.
    snoop = Device(server, "snoop", key.id, secret)
    assert wait_for(lambda: snoop.connack) == [0]
    snoop.client.subscribe("connio/provisions/factory-1", qos=1)
    snoop.client.subscribe("connio/provisions/+", qos=1)
    assert wait_for(lambda: len(snoop.subacks) == 2)
    assert snoop.subacks == [[REFUSED], [REFUSED]]
    snoop.stop()

    # A device key (or a data API client) is no provisioning key: the connection is closed.
    thing = tenant.plug("thing")
    device = connect_device(server, thing)
    device.client.publish("connio/provisions", json.dumps({"mac": "x"}).encode(), qos=1)
    assert device.disconnected.wait(10)
    device.stop()
    data_key, data_secret = apiclient_create(account=tenant.account, scope=["device:write-data"])
    integration = Device(server, "integration", data_key.id, data_secret)
    assert wait_for(lambda: integration.connack) == [0]
    integration.client.publish("connio/provisions", json.dumps({"mac": "x"}).encode(), qos=1)
    assert integration.disconnected.wait(10)
    integration.stop()

    # Another account's key provisions into its own account only: it cannot name this profile.
    other_profile = _profile(other_tenant, "meter")
    other_key, other_secret = _key(other_tenant, ApiKey.ContextType.PROFILE, [other_profile.id])
    made = _ask(server, other_key, other_secret, {"mac": "x"})
    assert Plug.objects.get(id=made["deviceId"]).account_id == other_tenant.account.id
    assert Plug.objects.filter(account=tenant.account).count() == 1  # only `thing`


def test_the_same_id_at_once_makes_one_device(server: Any, tenant: Any) -> None:
    profile = _profile(tenant)
    key, secret = _key(tenant, ApiKey.ContextType.PROFILE, [profile.id])
    answers: list[Any] = []

    def ask(n: int) -> None:
        answers.append(_ask(server, key, secret, {"mac": "same"}, client_id=f"line-{n}"))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4 and len({a["deviceId"] for a in answers}) == 1
    assert Plug.objects.filter(account=tenant.account).count() == 1
