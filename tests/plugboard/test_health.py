"""SPEC §10: /healthz checks the database and the channel layer; /api/schema/ and /api/docs/."""

import pytest


@pytest.mark.django_db
def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


@pytest.mark.django_db
def test_openapi_schema_and_local_docs(client) -> None:
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert any(p.startswith("/iot/") for p in paths)
    assert any(p.startswith("/v3/") for p in paths)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()  # assets are served locally (drf-spectacular-sidecar)
