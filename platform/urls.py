"""URL map: the two dialects, admin, console, schema, health, metrics."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.cache import cache_page
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from plugboard.accounts.account_api import AccountView
from plugboard.console.views import landing
from plugboard.exposition import metrics
from plugboard.health import healthz

# Every /v3/ path exists both as /v3/… and as /v3/accounts/{acc}/… (SPEC §6).
property_dialect = [
    path("", include("data.urls_property")),
    path("", include("devices.urls_property")),
    path("", include("plugboard.accounts.urls")),
    path("", include("commands.urls_property")),
    path("", include("alerts.urls_property")),
    path("", include("outbound.urls_property")),
]

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("console/", include("plugboard.console.urls")),
    # The schema is the same until the code changes: build it once an hour, not per request.
    path("api/schema/", cache_page(3600)(SpectacularAPIView.as_view()), name="schema"),
    # The split view serves Swagger UI's init script as a file (`?script`): no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("iot/", include("devices.urls_channel")),
    path("iot/", include("data.urls_channel")),
    # The account itself (its settings); every other /v3/ path is under it, and also under /v3/.
    re_path(r"^v3/accounts/(?P<acc>[^/]+)/?$", AccountView.as_view(), name="v3-account"),
    path("v3/accounts/<str:acc>/", include(property_dialect)),
    path("v3/", include(property_dialect)),
]

handler400 = "plugboard.errors.handler400"
handler403 = "plugboard.errors.handler403"
handler404 = "plugboard.errors.handler404"
handler500 = "plugboard.errors.handler500"
