"""Static files are served by the app itself (WhiteNoise), with DEBUG on and off: every asset the
admin's login page, the API docs and each console page reference answers 200 with its type."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings

from tests.conftest import Tenant

ASSET = re.compile(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', re.IGNORECASE)
TYPES = {
    ".css": ("text/css",),
    ".js": ("text/javascript", "application/javascript"),
    ".png": ("image/png",),
    ".svg": ("image/svg+xml",),
}


def _assets(html: str) -> set[str]:
    found = {urlsplit(url).path for url in ASSET.findall(html)}
    return {path for path in found if path.startswith("/static/")}


def _fetch_all(client: Client, pages: list[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assets = _assets(response.content.decode())
        assert assets, f"{page} references no static asset"
        seen[page] = assets
        for path in assets:
            asset = client.get(path)
            assert asset.status_code == 200, (page, path)
            kind = asset["Content-Type"].split(";")[0]
            suffix = path[path.rfind(".") :]
            assert kind in TYPES.get(suffix, (kind,)), (path, kind)
            assert b"".join(asset.streaming_content), path  # type: ignore[attr-defined]
    return seen


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_every_referenced_asset_is_served(debug: bool, tenant: Tenant) -> None:
    plug = tenant.plug("thermostat").plug
    with override_settings(DEBUG=debug):
        client = Client()
        public = _fetch_all(client, ["/admin/login/", "/api/docs/", "/console/sign-in/"])
        assert any("swagger-ui-bundle" in p for p in public["/api/docs/"]), "Swagger UI from the sidecar"
        assert any("admin/css/base" in p for p in public["/admin/login/"])
        signed = client.post("/console/sign-in/", {"email": tenant.email, "password": tenant.password})
        assert signed.status_code == 302
        console = _fetch_all(
            client,
            ["/console/plugs/", f"/console/plugs/{plug.id}/", "/console/channels/", "/console/keys/"],
        )
    assert any("uPlot" in p for p in console[f"/console/plugs/{plug.id}/"])
    if not debug:  # hashed names, cacheable for ever
        assert all(re.search(r"\.[0-9a-f]{12}\.", p) for pages in console.values() for p in pages)


def test_no_page_loads_from_another_host(tenant: Tenant) -> None:
    client = Client()
    for page in ["/admin/login/", "/api/docs/", "/console/sign-in/"]:
        html = client.get(page).content.decode()
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html), page


def test_static_assets_are_compressed() -> None:
    client = Client()
    html = client.get("/api/docs/").content.decode()
    bundle = next(p for p in _assets(html) if "swagger-ui-bundle" in p)
    response = client.get(bundle, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
