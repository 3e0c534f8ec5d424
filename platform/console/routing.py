"""The console's WebSocket routes: one live socket per page, authenticated by the session."""

from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import SessionMiddlewareStack
from django.urls import path

from plugboard.console.consumers import ConsoleLiveConsumer

# The session cookie authenticates the socket; the Origin check keeps another site's page from
# opening it with the operator's cookie.
live = AllowedHostsOriginValidator(SessionMiddlewareStack(ConsoleLiveConsumer.as_asgi()))

websocket_urlpatterns = [
    path("console/live/", live),
    path("console/live/home", live, {"page": "home"}),
    path("console/live/<str:plug_id>", live),
]
