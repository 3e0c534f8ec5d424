"""Zero-touch provisioning with the key Connio's documentation tells users to make (SPEC §7): an
API client key with `device:read` finds, in an `app` context, the devices plugged into that app,
and in an `account` context the account's devices (with `subaccount:read`, its sub-accounts'
too). `connio.mqtt.Session.provision` from the official `conniosdk`, unmodified, against the
live server over TCP; it creates nothing with such a key."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from connio.mqtt import CidMap, DeviceIdentity, MqttConnInfo, Session

from devices.models import Control, Plug, Property
from plugboard.accounts.services import subaccount_create
from plugboard.models import ApiKey
from plugboard.principals import Principal
from plugboard.services import apiclient_create
from tests.commands.mqtt.clients import Device
from tests.conftest import Tenant
from tests.support import ServerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _provision(
    server: ServerProcess, key: ApiKey, secret: str, cid: CidMap, config: str | None = None
) -> tuple[Session, DeviceIdentity]:
    """`Session.provision` blocks until answered: run it in a thread, with a deadline."""
    session = Session()
    result: list[DeviceIdentity] = []
    info = MqttConnInfo("127.0.0.1", "factory-7", key.id, secret, brokerPort=server.mqtt_port)
    worker = threading.Thread(
        target=lambda: result.append(session.provision(info, cid, config, timeout=20)), daemon=True
    )
    worker.start()
    worker.join(30)
    assert result, "provisioning was not answered"
    session.timer.cancel()
    return session, result[0]


def _ask(server: ServerProcess, key: ApiKey, secret: str, body: dict[str, Any]) -> Any:
    """The raw answer (the SDK drops an error's fields: a refusal is read with paho)."""
    client = Device(server, "factory-8", key.id, secret)
    try:
        assert wait_for(lambda: client.connack) == [0]
        client.client.subscribe("connio/provisions/factory-8", qos=1)
        assert wait_for(lambda: client.subacks) == [[1]]
        client.client.publish("connio/provisions", json.dumps(body).encode(), qos=1)
        assert wait_for(lambda: client.messages, timeout=10), "no answer"
        return json.loads(client.messages[0].payload)
    finally:
        client.stop()


def _with_mac(tenant: Tenant, name: str, mac: str) -> Any:
    return tenant.plug(name, props={"_v3": {"customIds": {"mac": mac}}})


def test_an_app_key_with_device_read_finds_the_devices_plugged_into_its_app(
    server: ServerProcess, tenant: Tenant
) -> None:
    app = tenant.plug("hvac", kind=Plug.Kind.CONTROLLER)
    plugged = _with_mac(tenant, "boiler", "00:11:22:33:44:55")
    Control.objects.create(controller=app.plug, thing=plugged.plug)
    Property.objects.create(plug=plugged.plug, name="config", last_value={"period": 30})
    loose = _with_mac(tenant, "pump", "66:77:88:99:aa:bb")  # of the account, in no app
    # Exactly the key Connio's documentation shows: device:read in the app's context.
    key, secret = apiclient_create(
        account=tenant.account, scope=["device:read"], context_type=ApiKey.ContextType.APP, app=app.plug
    )

    session, identity = _provision(server, key, secret, CidMap("mac", "00:11:22:33:44:55"), "config")
    assert (identity.id, identity.keyId, identity.keySecret) == (
        plugged.plug.id,
        plugged.key.id,
        plugged.auth,
    )
    assert session.config == {"period": 30}
    # The identity works: the device connects with it.
    device = Device(server, identity.id, identity.keyId, identity.keySecret)
    assert wait_for(lambda: device.connack) == [0]
    device.stop()

    # A device of the account that is not plugged into the app is not the app key's to find.
    _, unplugged = _provision(server, key, secret, CidMap("mac", "66:77:88:99:aa:bb"))
    assert unplugged.id is None and unplugged.keySecret is None
    refused = _ask(server, key, secret, {"mac": "66:77:88:99:aa:bb"})
    assert refused["error"]["code"] == 404
    # Nothing is created for an id no device has.
    assert _ask(server, key, secret, {"mac": "unknown"})["error"]["code"] == 404
    assert Plug.objects.filter(account=tenant.account).count() == 3
    assert loose.plug.id not in str(refused)


def test_an_account_key_finds_the_accounts_devices_and_with_subaccount_read_its_subaccounts(
    server: ServerProcess, tenant: Tenant, other_tenant: Tenant
) -> None:
    home = _with_mac(tenant, "meter", "aa:aa")
    owner = Principal(account_id=tenant.account.id, kind="account", credential=tenant.email)
    branch = subaccount_create(principal=owner, name="branch", admin_email="branch@example.com")
    branch_id = branch.account.id
    away = Tenant(branch.account, "").plug("far-meter", props={"_v3": {"customIds": {"mac": "bb:bb"}}})
    foreign = _with_mac(other_tenant, "spy", "cc:cc")

    reader, reader_secret = apiclient_create(account=tenant.account, scope=["device:read"])
    _, found = _provision(server, reader, reader_secret, CidMap("mac", "aa:aa"))
    assert (found.id, found.keySecret) == (home.plug.id, home.auth)
    # Without subaccount:read the sub-account's devices stay out of reach; another account's always.
    assert _ask(server, reader, reader_secret, {"mac": "bb:bb"})["error"]["code"] == 404
    assert _ask(server, reader, reader_secret, {"mac": "cc:cc"})["error"]["code"] == 404

    wide, wide_secret = apiclient_create(account=tenant.account, scope=["device:read", "subaccount:read"])
    _, far = _provision(server, wide, wide_secret, CidMap("mac", "bb:bb"))
    assert (far.id, far.keyId, far.keySecret) == (away.plug.id, away.key.id, away.auth)
    assert Plug.objects.get(id=far.id).account_id == branch_id
    assert _ask(server, wide, wide_secret, {"mac": "cc:cc"})["error"]["code"] == 404
    assert foreign.plug.id not in {found.id, far.id}
    assert Plug.objects.count() == 3  # nothing created


def test_data_scopes_and_listed_devices_are_no_provisioning_key(
    server: ServerProcess, tenant: Tenant
) -> None:
    thing = _with_mac(tenant, "meter", "aa:aa")
    for scope, context_type, ids in (
        (["device:read-data"], ApiKey.ContextType.ACCOUNT, []),
        (["device:read"], ApiKey.ContextType.DEVICES, [thing.plug.id]),
    ):
        key, secret = apiclient_create(
            account=tenant.account, scope=scope, context_type=context_type, context_ids=ids
        )
        client = Device(server, "factory-9", key.id, secret)
        assert wait_for(lambda c=client: c.connack) == [0]
        client.client.subscribe("connio/provisions/factory-9", qos=1)
        assert wait_for(lambda c=client: c.subacks) == [[0x80]]
        client.client.publish("connio/provisions", json.dumps({"mac": "aa:aa"}).encode(), qos=1)
        assert client.disconnected.wait(10), f"{scope} {context_type} provisioned"
        client.stop()
