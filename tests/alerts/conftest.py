"""Fixtures of the alerts tests: a device with a numeric property, alert bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from alerts.watch import watch_reset
from devices.services.plugs import Enrolled
from tests.conftest import Tenant, plug_headers


@pytest.fixture(autouse=True)
def _fresh_watch() -> Iterator[None]:
    # Each test's database starts empty: no process snapshot may outlive it.
    watch_reset()
    yield
    watch_reset()


def alert_body(owner: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "too-hot",
        "ownerId": owner,
        "trigger": "temperature",
        "conditions": [
            {
                "severity": "warning",
                "expression": {"operation": "gt", "value": 30},
                "handlers": [{"key": "1", "notification": "log"}],
            },
            {
                "severity": "critical",
                "expression": {"operation": "gt", "value": 40},
                "handlers": [{"key": "2", "notification": "log"}],
            },
        ],
        "recover": [{"key": "3", "notification": "log"}],
        "notifications": [
            {"name": "log", "action": "log", "message": "${alert} ${device} ${property}=${value} ${severity}"}
        ],
    }
    body.update(fields)
    return body


@pytest.fixture
def device(tenant: Tenant, api: APIClient) -> Enrolled:
    """A device that wrote its `temperature` once (so the property exists)."""
    enrolled = tenant.plug("boiler")
    r = api.post(
        f"/v3/data/devices/{enrolled.plug.id}", {"temperature": 20}, format="json", **plug_headers(enrolled)
    )
    assert r.status_code == 200
    return enrolled


@pytest.fixture
def write(api: APIClient, device: Enrolled, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Write one value as the device; what runs after the commit runs before this returns (the
    test's transaction never commits)."""

    def send(value: Any, prop: str = "temperature", who: Enrolled | None = None) -> Any:
        target = who or device
        with django_capture_on_commit_callbacks(execute=True):
            r = api.post(
                f"/v3/data/devices/{target.plug.id}", {prop: value}, format="json", **plug_headers(target)
            )
        assert r.status_code == 200, r.content
        return r.json()

    return send


# Real servers (`manage.py serve` processes) for the SDK and two-writer tests.
from tests.plugboard.conftest import start_server  # noqa: E402, F401
