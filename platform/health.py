"""`/healthz`: the database and the channel layer answer, each within DEADLINE (SPEC §11).

Both are asked at once; a part that does not answer in time is reported as down
(`"error: timeout"`), so the whole answer comes within about DEADLINE seconds whatever is down.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

DEADLINE = 1.5  # seconds each part has to answer

# A few threads for the database probe: a probe stuck on an unanswering server keeps its thread
# until the connection gives up, and later probes then time out instead of piling up threads.
_probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")


def _database() -> None:
    pool = getattr(connection, "pool", None)  # PostgreSQL: the process's psycopg pool
    if pool is not None:
        # Through the pool, as requests get theirs: its check discards a dead connection.
        pool.open()
        with pool.connection(timeout=DEADLINE) as conn:
            conn.execute("SELECT 1")
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this probe thread's own connection


async def _layer_roundtrip() -> None:
    layer = get_channel_layer()
    assert layer is not None
    name = await layer.new_channel(prefix="healthz")
    token = uuid.uuid4().hex
    await layer.send(name, {"type": "healthz", "token": token})
    message = await layer.receive(name)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


async def _layer() -> None:
    await asyncio.wait_for(_layer_roundtrip(), timeout=DEADLINE)


def _verdict(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, FutureTimeout | asyncio.TimeoutError):
        return "error: timeout"
    return f"error: {exc.__class__.__name__}"


def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    database = _probes.submit(_database)
    layer_error: BaseException | None = None
    try:
        async_to_sync(_layer)()
    except Exception as exc:  # a health check reports, it does not raise
        layer_error = exc
    database_error: BaseException | None = None
    try:
        database.result(timeout=max(0.0, started + DEADLINE + 0.1 - time.monotonic()))
    except Exception as exc:
        database_error = exc
    checks = {"database": _verdict(database_error), "channel_layer": _verdict(layer_error)}
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
