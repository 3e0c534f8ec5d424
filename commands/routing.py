"""WebSocket routes: MQTT 3.1.1 at /mqtt (SPEC §7)."""

from django.urls import path

from commands.mqtt.transports.websocket import MqttWebSocketConsumer

websocket_urlpatterns = [
    path("mqtt", MqttWebSocketConsumer.as_asgi()),
]
