"""ASGI entry point: HTTP (both dialects, admin, console) and WebSocket (MQTT, console live)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")
django.setup(set_prefix=False)

from plugboard.assets import assets_collect  # noqa: E402

assets_collect()  # every server starts here: its static files are current before it answers

from plugboard.errors import reason_phrases_complete  # noqa: E402

reason_phrases_complete()  # "429 Too Many Requests", not Twisted's "429 Unknown Status"

from plugboard.handlers import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from commands.routing import websocket_urlpatterns  # noqa: E402
from plugboard.console.routing import websocket_urlpatterns as console_websocket_urlpatterns  # noqa: E402


class UnroutedWebSocket(AsyncWebsocketConsumer):
    """An upgrade to a path no route serves: closed before it is accepted, which Daphne answers
    with 403. Without it Channels' router raised, and Daphne answered 500 with an error-level
    traceback, to anyone, unauthenticated."""

    async def connect(self) -> None:
        await self.close(code=1008)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                *websocket_urlpatterns,
                *console_websocket_urlpatterns,
                re_path(r"", UnroutedWebSocket.as_asgi()),
            ]
        ),
    }
)
