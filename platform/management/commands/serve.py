"""`manage.py serve`: the whole platform (SPEC §10).

One process by default: Daphne (HTTP + WebSocket MQTT), the TCP (and TLS) MQTT listener and, on
the embedded default, the expiry schedule share Daphne's asyncio event loop, so the in-memory
channel layer reaches every transport.

`--workers N` binds N listening sockets per port (SO_REUSEPORT) and runs N such processes, one
socket each, so the kernel spreads connections evenly across them: one process per core, the
production shape on one machine. The processes then meet through Redis, so it needs REDIS_URL,
and expiry is Celery beat's job. They count their metrics in one directory (plugboard.metrics:
PROMETHEUS_MULTIPROC_DIR, else var/metrics), so /metrics answers for all of them.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import gc
import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from plugboard import metrics, websocket_masking

LISTENERS = ("http", "mqtt", "tls")
# A young collection after 50,000 allocations (Python's default: 700): one every few 1,000-record
# requests instead of several per request; a full one only after 100 of the middle generation's.
GC_THRESHOLDS = (50_000, 20, 100)


def listen(host: str, port: int, label: str, copies: int = 1) -> list[socket.socket]:
    """Listening sockets on one port, or one clear line when the port is taken.

    `copies` above 1 gives one socket per worker process, all bound with SO_REUSEPORT, so the
    kernel spreads new connections evenly over the workers. With one socket shared by all of
    them, whichever worker was waiting in `accept` took them: one process got most of a burst
    of MQTT connections while the other idled.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        if copies == 1:
            return [socket.create_server((host, port), family=family, backlog=1024)]
        if port:  # a port another program holds, even with SO_REUSEPORT, is refused as taken
            socket.create_server((host, port), family=family).close()
        first = socket.create_server((host, port), family=family, backlog=1024, reuse_port=True)
        port = first.getsockname()[1]
        rest = [
            socket.create_server((host, port), family=family, backlog=1024, reuse_port=True)
            for _ in range(copies - 1)
        ]
        return [first, *rest]
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise CommandError(f"{label} port {port} on {host} is already in use; choose another")
        raise


def tls_context() -> ssl.SSLContext | None:
    """The TLS listener's certificate and key, loaded before anything listens; None when neither
    is configured. A path that cannot be read stops the start-up with one line naming it: loaded
    later, once Daphne ran, it was a traceback in the log of a server that had announced TLS and
    served none."""
    cert, key = settings.MQTT_TLS_CERT, settings.MQTT_TLS_KEY
    if not cert and not key:
        return None
    if not (cert and key):
        raise CommandError("MQTT over TLS needs both MQTT_TLS_CERT and MQTT_TLS_KEY; one is not set")
    for variable, path in (("MQTT_TLS_CERT", cert), ("MQTT_TLS_KEY", key)):
        if not Path(path).is_file():
            raise CommandError(f"{variable} {path} does not exist or is not a file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"MQTT_TLS_CERT {cert} with MQTT_TLS_KEY {key} cannot be loaded: {exc}") from None
    return context


def _worker_sockets(listeners: dict[str, list[socket.socket]], worker: int) -> dict[str, socket.socket]:
    """Worker `worker`'s listening socket of each listener."""
    return {label: copies[worker] for label, copies in listeners.items()}


class Command(BaseCommand):
    help = "Run the whole platform: HTTP, WebSocket MQTT, TCP MQTT and (embedded) the expiry schedule."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--mqtt-port",
            type=int,
            default=settings.MQTT_TCP_PORT,
            help="TCP MQTT port (0 disables the TCP listener)",
        )
        parser.add_argument("--workers", type=int, default=1, help="processes sharing the listeners")
        parser.add_argument("--no-expiry", action="store_true", help="do not run the in-process expiry")
        parser.add_argument("--worker-fds", help="internal: the inherited listening sockets")

    def handle(self, *args: Any, **opts: Any) -> None:
        host, workers = opts["host"], opts["workers"]
        tls = tls_context() if opts["mqtt_port"] or opts["worker_fds"] else None
        if not opts["worker_fds"]:
            if workers > 1 and metrics.multiprocess_directory() is None:
                # One scrape reaches one worker (SO_REUSEPORT): they must count in one place.
                os.environ[metrics.MULTIPROC_VARIABLE] = str(Path(settings.VAR_DIR) / "metrics")
            metrics.multiprocess_directory_prepare()
        # A process that had this pid before may have left live gauges (killed): not ours.
        metrics.process_ended(os.getpid())
        atexit.register(metrics.process_ended, os.getpid())
        if opts["worker_fds"]:
            fds = [int(fd) for fd in opts["worker_fds"].split(",")]
            sockets = {
                label: socket.socket(fileno=fd) for label, fd in zip(LISTENERS, fds, strict=True) if fd >= 0
            }
            self._run(host, sockets, tls, expiry=False, announce=False)
            return
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if workers > 1 and not settings.REDIS_URL:
            raise CommandError(
                "--workers above 1 needs REDIS_URL: the in-memory channel layer is per process"
            )
        listeners = {"http": listen(host, opts["port"], "HTTP", workers)}
        if opts["mqtt_port"]:
            listeners["mqtt"] = listen(host, opts["mqtt_port"], "MQTT", workers)
            if tls is not None:
                listeners["tls"] = listen(host, settings.MQTT_TLS_PORT, "MQTT TLS", workers)
        if workers == 1:
            self._run(host, _worker_sockets(listeners, 0), tls, expiry=not opts["no_expiry"], announce=True)
        else:
            self._supervise(host, listeners, workers)

    def _supervise(self, host: str, listeners: dict[str, list[socket.socket]], workers: int) -> None:
        manage = Path(settings.BASE_DIR) / "manage.py"
        children = []
        for worker in range(workers):
            sockets = _worker_sockets(listeners, worker)
            fds = ",".join(str(sockets[label].fileno()) if label in sockets else "-1" for label in LISTENERS)
            command = [sys.executable, str(manage), "serve", "--host", host, "--worker-fds", fds]
            inherited = tuple(s.fileno() for s in sockets.values())
            children.append(subprocess.Popen(command, pass_fds=inherited))  # noqa: S603
        self._announce(host, _worker_sockets(listeners, 0), f" with {workers} worker processes")
        # Each socket now lives in its worker only: if a worker dies, its socket closes with it and
        # the kernel stops handing it connections, which the other workers then take.
        for copies_of in listeners.values():
            for sock in copies_of:
                sock.close()

        def stop(signum: int, frame: FrameType | None) -> None:
            for child in children:
                child.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Whichever worker ends first: its live metrics (MQTT connections) go as it does, not
        # once the workers before it in the list have ended too.
        running = {child.pid: child for child in children}
        codes = []
        while running:
            pid, status = os.wait()
            child = running.pop(pid, None)
            if child is not None:
                child.returncode = os.waitstatus_to_exitcode(status)  # stop() signals it no more
                codes.append(child.returncode)
                metrics.process_ended(pid)
        if any(code not in (0, -signal.SIGTERM) for code in codes):
            raise CommandError(f"a worker exited with {codes}")

    def _run(
        self,
        host: str,
        sockets: dict[str, socket.socket],
        tls: ssl.SSLContext | None,
        *,
        expiry: bool,
        announce: bool,
    ) -> None:
        from daphne.server import Server  # imported here: it installs Twisted's asyncio reactor

        from plugboard import bounded_bodies  # after the reactor: it imports Daphne
        from plugboard.asgi import application  # after the reactor: Channels imports Twisted

        bounded_bodies.install()  # the body limit applied before a body is read
        websocket_masking.install()  # small frames unmasked in one C step, not a masker each

        def on_ready() -> None:
            asyncio.get_event_loop().create_task(self._start_side_services(sockets, tls, expiry))

        if announce:
            self._announce(host, sockets, "")
        # Python's cyclic garbage collector, at its defaults, ran a young collection every 700
        # container allocations (a 1,000-record request makes thousands) and now and then a full
        # one over everything Django and the app had loaded: about a fifth of a worker's CPU
        # under MQTT load. What exists now lives as long as the process, so it is kept out of
        # collections, and collections run less often.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        Server(
            application=application,
            endpoints=[f"fd:fileno={sockets['http'].fileno()}"],  # Twisted adopts our socket
            ready_callable=on_ready,
            verbosity=0,
        ).run()

    def _announce(self, host: str, sockets: dict[str, socket.socket], how: str) -> None:
        port = sockets["http"].getsockname()[1]
        self.stdout.write(f"Plugboard serving http://{host}:{port}/ (WebSocket MQTT at /mqtt){how}")
        if "mqtt" in sockets:
            self.stdout.write(f"MQTT over TCP on {host}:{sockets['mqtt'].getsockname()[1]}")
        if "tls" in sockets:
            self.stdout.write(f"MQTT over TLS on {host}:{sockets['tls'].getsockname()[1]}")

    async def _start_side_services(
        self, sockets: dict[str, socket.socket], tls: ssl.SSLContext | None, expiry: bool
    ) -> None:
        # Imported when a worker starts its listeners: a --workers supervisor never loads MQTT.
        from commands.mqtt.transports.tcp import mqtt_tcp_serve
        from devices import credential_cache

        # Verified key secrets are remembered while this process hears of credential changes.
        credential_cache.listen_in_thread()

        if "mqtt" in sockets:
            await mqtt_tcp_serve(sock=sockets["mqtt"])
        if "tls" in sockets and tls is not None:
            await mqtt_tcp_serve(sock=sockets["tls"], ssl_context=tls)
        if expiry and settings.CELERY_TASK_ALWAYS_EAGER:
            # Only the embedded default runs the purge in this process (production: Celery beat).
            from data.expiry import expiry_schedule
            from data.rollups import rollups_schedule

            asyncio.get_event_loop().create_task(expiry_schedule())
            asyncio.get_event_loop().create_task(rollups_schedule())
            self.stdout.write("expiry and rollup schedules running in-process")
            # The activity scan likewise (production: Celery beat, alerts.tasks).
            from alerts.activity import activity_schedule

            asyncio.get_event_loop().create_task(activity_schedule())
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # The embedded default delivers the outbox in this process too (production: workers).
            from outbound.outbox import outbox_runner_start

            outbox_runner_start()
