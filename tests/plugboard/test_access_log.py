"""One JSON access-log line per HTTP request (`plugboard.access`): method, path, status,
duration and the credential id — never a password or a secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devices.services.plugs import Enrolled
from plugboard.logs import JSONFormatter
from tests.conftest import Tenant, basic, plug_headers

pytestmark = pytest.mark.django_db


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access records as the JSON formatter writes them (parsed back)."""
    formatter = JSONFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "plugboard.access"]


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="plugboard.access")
    return caplog


def test_one_line_per_request_with_the_account_credential(
    api: APIClient, tenant: Tenant, access: pytest.LogCaptureFixture
) -> None:
    assert api.get("/v3/devices?pageSize=1&token=query-value", **tenant.master_headers()).status_code == 200
    (line,) = _lines(access)
    assert line["logger"] == "plugboard.access" and line["level"] == "info"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v3/devices", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["credential"] == tenant.email
    text = json.dumps(line)
    assert tenant.password not in text and "query-value" not in text


def test_key_credentials_are_logged_by_id_never_by_secret(
    api: APIClient, tenant: Tenant, thing: Enrolled, access: pytest.LogCaptureFixture
) -> None:
    user_id, user_secret = tenant.user_key()
    api.get("/v3/devices", **basic(user_id, user_secret))
    api.post("/v3/data/devices/_this_", data={"temperature": 20}, format="json", **plug_headers(thing))
    first, second = _lines(access)
    assert first["credential"] == user_id and first["status"] == 200
    assert second["method"] == "POST" and second["credential"] in (thing.key.id, thing.plug.id)
    text = json.dumps([first, second])
    assert user_secret not in text and thing.auth not in text


def test_refusals_are_logged_without_a_credential(
    api: APIClient, tenant: Tenant, access: pytest.LogCaptureFixture
) -> None:
    api.get("/v3/devices", HTTP_X_PLUG_EMAIL=tenant.email, HTTP_X_PLUG_MASTER="wrong-password")
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    api.generic("POST", "/iot/data/a", huge, content_type="application/json", **tenant.master_headers())
    api.get("/healthz")
    lines = _lines(access)
    assert [(x["path"], x["status"], x["credential"]) for x in lines] == [
        ("/v3/devices", 401, None),
        ("/iot/data/a", 413, None),
        ("/healthz", 200, None),
    ]
    assert "wrong-password" not in json.dumps(lines)
