"""A client generated from the served OpenAPI schema alone (openapi-python-client, pinned in the
dev extras) writes and reads through each dialect against a real server (issue 13).

The generator runs on the schema the server serves at /api/schema/; the test then imports the
generated package and calls its typed functions — models in, models out — with the account's
master password and a plug's id + auth on the channel dialect, a user key and a device key on
the property dialect. Nothing here knows the wire format beyond what the schema says.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.support import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


@pytest.fixture
def client_package(server: ServerProcess, tmp_path: Path) -> Iterator[ModuleType]:
    with urllib.request.urlopen(f"{server.base}/api/schema/?format=json", timeout=30) as response:  # noqa: S310
        schema = json.loads(response.read())
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    # The generator formats its output with ruff: the venv's, on PATH.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(  # noqa: S603
        [VENV_BIN / "openapi-python-client", "generate", "--path", "schema.json"]
        + ["--output-path", "plugboard_client", "--meta", "none"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("plugboard_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "plugboard_client"]:
            del sys.modules[name]


def operation(package: ModuleType, method: str, path: str) -> Any:
    """The generated module of `method path`, found by the request it builds."""
    root = Path(package.__file__).parent / "api"
    for source in sorted(root.rglob("*.py")):
        text = source.read_text()
        if f'"method": "{method}"' in text and f'"url": "{path}"' in text:
            name = ".".join(source.relative_to(root.parent).with_suffix("").parts)
            return importlib.import_module(f"{package.__name__}.{name}")
    raise AssertionError(f"no generated operation for {method.upper()} {path}")


def model(package: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def test_channel_dialect_write_and_read(
    client_package: ModuleType, server: ServerProcess, tenant: Tenant
) -> None:
    pc = client_package
    thing = tenant.plug("boiler")
    as_account = pc.Client(
        base_url=server.base, headers={"X-Plug-Email": tenant.email, "X-Plug-Master": tenant.password}
    )
    as_plug = pc.Client(base_url=server.base, headers={"X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth})
    publish = operation(pc, "put", "/iot/data/{channel}")
    read = operation(pc, "get", "/iot/data/{channel}")
    record = model(pc, "ChannelRecordIn")

    oid = publish.sync(channel="home/temp", client=as_plug, body=record(data=21.5, at=1767225600000))
    assert isinstance(oid, str) and len(oid) == 24
    both = publish.sync(
        channel="home/temp",
        client=as_plug,
        body=[record(data=22, at=1767225660000), record(data={"x": 1}, at=1767225720000)],
    )
    assert isinstance(both, list) and len(both) == 2

    records = read.sync(channel="home/temp", client=as_account)
    # Newest first.
    assert [r.data for r in records] == [{"x": 1}, 22, 21.5] and records[-1].id == oid
    assert {r.of for r in records} == {thing.plug.id} and set(both) <= {r.id for r in records}

    device = operation(pc, "get", "/iot/device/{ref}").sync(ref=thing.plug.id, client=as_account)
    assert device.id == thing.plug.id and device.connected is False

    # A refusal comes back as the dialect's error model.
    refused = operation(pc, "get", "/iot/device/{ref}").sync(ref="dev-nosuchplug", client=as_account)
    assert type(refused).__name__ == "ChannelError" and refused.err == 404


def _basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_property_dialect_write_and_read(
    client_package: ModuleType, server: ServerProcess, tenant: Tenant
) -> None:
    pc = client_package
    thing = tenant.plug("boiler")
    as_user = pc.AuthenticatedClient(base_url=server.base, token=_basic(*tenant.user_key()), prefix="Basic")
    as_device = pc.AuthenticatedClient(
        base_url=server.base, token=_basic(thing.key.id, thing.auth), prefix="Basic"
    )
    feed, point = model(pc, "DataFeed"), model(pc, "DataPoint")

    write = operation(pc, "post", "/v3/data/devices/{ref}/properties/{prp}")
    receipt = write.sync(
        ref="_this_",
        prp="temperature",
        client=as_device,
        body=feed(dps=[point(v=21.5, t="2026-01-01T00:00:00Z"), point(v=22.5, t="2026-01-01T00:01:00Z")]),
    )
    assert (receipt.accepted, receipt.rejected) == (2, 0)

    series = operation(pc, "get", "/v3/data/devices/{ref}/properties/{prp}").sync(
        ref=thing.plug.id, prp="temperature", client=as_user
    )
    assert [(v.t, v.v) for v in series.results] == [
        ("2026-01-01T00:01:00.000Z", 22.5),
        ("2026-01-01T00:00:00.000Z", 21.5),
    ]

    created = operation(pc, "post", "/v3/devices/").sync(
        client=as_user, body=model(pc, "DeviceIn")(name="heater", tags=["cellar"])
    )
    assert created.name == "heater" and created.tags == ["cellar"]
    page = operation(pc, "get", "/v3/devices/").sync(client=as_user)
    assert {d.name for d in page.results} == {"boiler", "heater"} and page.total == 2

    refused = operation(pc, "get", "/v3/devices/{ref}/").sync(ref="nosuchdevice", client=as_user)
    assert isinstance(refused, list) and refused[0].code == 404
