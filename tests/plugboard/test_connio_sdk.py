"""The official Connio Python SDK (`conniosdk` from PyPI, unmodified; only its host is ours)
against a real server (issue 15): the fleet flows over REST, and zero-touch provisioning, data
and commands over its MQTT module.

The SDK's REST client authenticates with a user key (Basic `_key_…:secret`, as Connio's account
keys); its `connio.mqtt.Session` is paho-mqtt underneath, over TCP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from connio.base.exceptions import ConnioRestException
from connio.mqtt import CidMap, MqttConnInfo, Session
from connio.rest import Client
from connio.rest.api.v3.account.apikey import ApiKeyContext
from connio.rest.api.v3.account.propertyy import PropertyInstance

from data.models import DataPoint
from devices.models import Plug
from tests.conftest import Tenant
from tests.support import ServerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


@pytest.fixture
def sdk(server: ServerProcess, tenant: Tenant) -> Client:
    key_id, secret = tenant.user_key()
    return Client(username=key_id, password=secret, host=server.base)


def _properties(sdk: Client, owner: str) -> Any:
    return sdk.api.v3.account.properties(owner)


def test_fleet_over_rest(sdk: Client, tenant: Tenant) -> None:
    api = sdk.api.v3
    profile = api.deviceprofiles.create(name="thermostat", vendor_name="Acme", product_name="T-1")
    assert profile.id.startswith("_dpf_") and profile.name == "thermostat"
    properties = _properties(sdk, profile.id)
    properties.create(
        name="temperature",
        data_type="number",
        access_type="protected",
        publish_type="always",
        boundaries=PropertyInstance.Boundaries(min=-40, max=85),
        retention=PropertyInstance.Retention(
            type="historical",
            context=PropertyInstance.Context(type="default"),
            lifetime="30d",
            condition=PropertyInstance.Condition(when="always"),
        ),
    )
    properties.create(
        name="setpoint",
        data_type="number",
        access_type="public",
        publish_type="always",
        friendly_name="Set point",
        measurement=PropertyInstance.Measurement(
            "temperature", PropertyInstance.MeasurementUnit("celsius", "°C"), None
        ),
    )
    listed = {p.name: p for p in properties.list()}
    assert set(listed) == {"temperature", "setpoint"}
    assert listed["setpoint"].friendly_name == "Set point"

    made = [api.devices.create(name=f"t{i}", profile="Thermostat") for i in range(3)]
    assert all(d.profile_id == profile.id for d in made)
    assert sorted(d.name for d in api.devices.list()) == ["t0", "t1", "t2"]
    assert len(list(api.devices.stream(page_size=2))) == 3
    by_id = api.devices.get(made[0].id).fetch()
    by_name = api.devices.get("T0").fetch()
    assert by_id.id == by_name.id == made[0].id
    renamed = api.devices.get(made[0].id).update(name="lobby")
    assert renamed.name == "lobby"

    # Data through the SDK: the device's own key writes its properties; state and history read.
    device = api.devices.get(made[0].id)
    device.insert_property_value({"dps": [{"prop": "temperature", "v": 21.5}]}, use_device_key=True)
    device.insert_property_value({"dps": [{"prop": "temperature", "v": 99}]}, use_device_key=True)
    state = device.state()
    assert state["temperature"] == 21.5
    history = device.read_property_historical("temperature", {"startRelative": {"value": 1, "unit": "hours"}})
    assert [v["v"] for v in history["results"][0]["values"]] == [21.5]
    assert DataPoint.objects.filter(of=made[0].id, channel="temperature").count() == 1

    # An app from an app profile; a provisioning API client; users; sub-accounts.
    api.appprofiles.create(name="building")
    app = api.apps.create(name="hvac", profile="building")
    assert app.profile_id and api.apps.get(app.id).fetch().name == "hvac"
    client = api.apiclients.create(
        context={"type": "deviceprofile", "ids": [profile.id]},
        scope=["device:provision"],
        name="factory",
        friendly_name="Factory line 3",
        tags=["factory"],
    )
    assert client.friendly_name == "Factory line 3" and client.tags == ["factory"]
    with pytest.raises(ConnioRestException):  # a provisioning key provisions, nothing else
        api.apiclients.create(context={"type": "deviceprofile", "ids": [profile.id]}, scope=["device:modify"])


def _provision(
    server: ServerProcess, key_id: str, secret: str, client_id: str, cid: CidMap, config: str | None
) -> tuple[Session, Any]:
    """`Session.provision` blocks until it is answered: run it in a thread, with a deadline."""
    session = Session()
    result: list[Any] = []
    info = MqttConnInfo("127.0.0.1", client_id, key_id, secret, brokerPort=server.mqtt_port)
    worker = threading.Thread(
        target=lambda: result.append(session.provision(info, cid, config, timeout=20)), daemon=True
    )
    worker.start()
    worker.join(30)
    assert result, "provisioning was not answered"
    session.timer.cancel()
    return session, result[0]


def test_provision_connect_publish_and_receive_a_command(
    sdk: Client, server: ServerProcess, tenant: Tenant
) -> None:
    api = sdk.api.v3
    profile = api.deviceprofiles.create(name="meter")
    properties = _properties(sdk, profile.id)
    properties.create(name="power", data_type="number", access_type="protected", publish_type="always")
    properties.create(name="config", data_type="object", access_type="public", publish_type="always")
    key = api.apiclients.create(
        context={"type": "deviceprofile", "ids": ["meter"]}, scope=["device:provision"]
    )
    # An API client's secret is shown once (the create answer, which the SDK drops) and stored
    # hashed: the key reads back without it, and the SDK's own regen gives a new one.
    assert key.apikey.secret is None
    provisioning_secret = ApiKeyContext(api, "_this_", "apiclients", key.id).regen().secret

    session, identity = _provision(
        server, key.id, provisioning_secret, "factory-1", CidMap("mac", "00:11:22:33:44:55"), "config"
    )
    assert identity.id and identity.id.startswith("dev-")
    assert session.config is None  # nothing configured yet
    plug = Plug.objects.get(id=identity.id)
    assert plug.profile_id == profile.id
    # The same id again: the same device, the same key.
    _, again = _provision(
        server, key.id, provisioning_secret, "factory-1", CidMap("mac", "00:11:22:33:44:55"), "config"
    )
    assert (again.id, again.keyId, again.keySecret) == (identity.id, identity.keyId, identity.keySecret)

    # The device connects as itself, publishes on connio/data/out/…, gets a command.
    received: list[tuple[str, Any]] = []
    connected = threading.Event()

    def on_connected(connection: Any) -> None:
        connection.subscribe(f"connio/data/in/devices/{identity.id}/properties/#")
        connected.set()

    device = Session()
    connection = device.connect(
        MqttConnInfo(
            "127.0.0.1", identity.id, identity.keyId, identity.keySecret, brokerPort=server.mqtt_port
        ),
        on_connected,
        lambda topic, value: received.append((topic, value)),
    )
    connection._client.loop_start()  # noqa: SLF001 - start_loop blocks in the caller's function
    try:
        assert connected.wait(10)
        time.sleep(0.3)  # the SUBSCRIBE is on its way
        connection.publish(f"connio/data/out/devices/{identity.id}/properties/power", "1250")
        assert wait_for(lambda: DataPoint.objects.filter(of=identity.id, channel="power").exists())
        api.devices.get(identity.id).insert_property_value({"dps": [{"prop": "config", "v": {"period": 30}}]})
        assert wait_for(lambda: received, timeout=10)
        assert received == [(f"connio/data/in/devices/{identity.id}/properties/config", {"period": 30})]
    finally:
        connection._client.loop_stop()  # noqa: SLF001
        connection._client.disconnect()  # noqa: SLF001
