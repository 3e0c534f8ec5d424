"""Shared fixtures: accounts, plugs and credentials made through the real services."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import global_settings
from django.core.cache import cache
from django.test.utils import override_settings
from rest_framework.test import APIClient

from devices.services.plugs import Enrolled, plug_create
from outbound import connectors
from plugboard.models import Account
from plugboard.services import account_create, key_create

PASSWORD = "correct horse battery"
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def pytest_configure() -> None:
    # PBKDF2 costs ~0.5 s per hash: fine for a platform, ruinous for a test suite. The server
    # and worker processes the tests start inherit the variable.
    os.environ["PLUGBOARD_PASSWORD_HASHERS"] = FAST_HASHER
    override_settings(PASSWORD_HASHERS=[FAST_HASHER, *global_settings.PASSWORD_HASHERS]).enable()


@pytest.fixture(scope="session", autouse=True)
def _static_assets() -> None:
    # Pages render `{% static %}` through the manifest: collect now if the sources changed, so
    # no test depends on a collectstatic someone ran (or forgot) before.
    from plugboard.assets import assets_collect

    assets_collect()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The failure counters and verified-credential cache live in the cache (Redis under CI).
    cache.clear()
    # The connectors' map of watched devices follows a version kept in that cache: each test
    # starts from the map of an empty table read just now (no connector exists at a test's
    # start), so the queries a write makes do not depend on which test ran before it.
    connectors._watched, connectors._watch_any, connectors._watch_version = {}, False, None
    connectors._watch_loaded = connectors._watch_checked = time.monotonic()


@dataclass
class Tenant:
    account: Account
    password: str

    @property
    def email(self) -> str:
        return self.account.email

    def master_headers(self) -> dict[str, str]:
        return {"HTTP_X_PLUG_EMAIL": self.email, "HTTP_X_PLUG_MASTER": self.password}

    def plug(self, name: str, **fields: Any) -> Enrolled:
        return plug_create(account=self.account, name=name, **fields)

    def user_key(self) -> tuple[str, str]:
        key, secret = key_create(account=self.account, kind="user")
        return key.id, secret


def receipt_counts(body: dict[str, Any]) -> dict[str, Any]:
    """A v3 receipt's counts (beside them, `errors` says why; tests that check it read it)."""
    return {k: body[k] for k in ("accepted", "rejected")}


def plug_headers(enrolled: Enrolled) -> dict[str, str]:
    return {"HTTP_X_PLUG_ID": enrolled.plug.id, "HTTP_X_PLUG_AUTH": enrolled.auth}


def basic(user: str, secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
def make_tenant(db: None) -> Callable[[str], Tenant]:
    def make(email: str) -> Tenant:
        return Tenant(account_create(email=email, password=PASSWORD), PASSWORD)

    return make


@pytest.fixture
def tenant(make_tenant: Callable[[str], Tenant]) -> Tenant:
    return make_tenant("owner@example.com")


@pytest.fixture
def other_tenant(make_tenant: Callable[[str], Tenant]) -> Tenant:
    return make_tenant("intruder@example.com")


@pytest.fixture
def thing(tenant: Tenant) -> Enrolled:
    return tenant.plug("thermostat", hwid="SN-1")


@pytest.fixture
def api() -> APIClient:
    return APIClient()
