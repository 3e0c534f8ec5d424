"""URL map: the two dialects, the MQTT-less HTTP extras, admin and console."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from plugboard.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("iot/", include("data.urls_channel")),
    path("v3/", include("data.urls_property")),
]

handler400 = "plugboard.errors.handler400"
handler403 = "plugboard.errors.handler403"
handler404 = "plugboard.errors.handler404"
handler500 = "plugboard.errors.handler500"
