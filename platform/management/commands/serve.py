"""`manage.py serve`: the whole platform in one process (SPEC §10).

Daphne (HTTP + WebSocket MQTT), the TCP (and TLS) MQTT listener and, on the embedded default,
the expiry schedule share Daphne's asyncio event loop, so the in-memory channel layer reaches
every transport.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

log = logging.getLogger("plugboard.serve")


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


class Command(BaseCommand):
    help = "Run the whole platform in one process: HTTP, WebSocket MQTT, TCP MQTT, expiry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--mqtt-port",
            type=int,
            default=settings.MQTT_TCP_PORT,
            help="TCP MQTT port (0 disables the TCP listener)",
        )
        parser.add_argument("--no-expiry", action="store_true", help="do not run the in-process expiry")

    def handle(self, *args: Any, **opts: Any) -> None:
        host, port, mqtt_port = opts["host"], opts["port"], opts["mqtt_port"]
        tls_on = bool(settings.MQTT_TLS_CERT and settings.MQTT_TLS_KEY)
        wanted = [("HTTP", port)] + ([("MQTT", mqtt_port)] if mqtt_port else [])
        wanted += [("MQTT TLS", settings.MQTT_TLS_PORT)] if tls_on and mqtt_port else []
        for label, p in wanted:
            if not port_free(host, p):
                raise CommandError(f"{label} port {p} on {host} is already in use; choose another")

        from daphne.server import Server  # imported here: it installs Twisted's asyncio reactor

        from plugboard.asgi import application

        def on_ready() -> None:
            loop = asyncio.get_event_loop()
            loop.create_task(self._start_side_services(host, mqtt_port, tls_on, not opts["no_expiry"]))
            self.stdout.write(f"Plugboard serving http://{host}:{port}/ (WebSocket MQTT at /mqtt)")

        Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            ready_callable=on_ready,
            verbosity=0,
        ).run()

    async def _start_side_services(self, host: str, mqtt_port: int, tls_on: bool, expiry: bool) -> None:
        from commands.mqtt.tcp import mqtt_tcp_serve

        if mqtt_port:
            await mqtt_tcp_serve(host, mqtt_port)
            self.stdout.write(f"MQTT over TCP on {host}:{mqtt_port}")
            if tls_on:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(settings.MQTT_TLS_CERT, settings.MQTT_TLS_KEY)
                await mqtt_tcp_serve(host, settings.MQTT_TLS_PORT, ssl_context=context)
                self.stdout.write(f"MQTT over TLS on {host}:{settings.MQTT_TLS_PORT}")
        if expiry and settings.CELERY_TASK_ALWAYS_EAGER:
            from data.expiry import expiry_schedule

            asyncio.get_event_loop().create_task(expiry_schedule())
            self.stdout.write("expiry schedule running in-process")
