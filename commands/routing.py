"""WebSocket routes: MQTT 3.1.1 at /mqtt (SPEC §7)."""

from django.urls import path

websocket_urlpatterns: list = [
]
