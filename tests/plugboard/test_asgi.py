"""The ASGI entry point runs Django's middleware chain and the (sync) view in one hop into the
request's thread, not one hop per middleware method (plugboard/handlers.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref import sync
from django.core import signals

from data.models import DataPoint
from plugboard.asgi import application
from plugboard.handlers import OneHopASGIHandler


async def _call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One HTTP request to the ASGI application, as Daphne would make it."""
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []
    content = bytearray()

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        else:
            content.extend(message.get("body", b""))

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*raw_headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    return status[0], bytes(content)


def test_the_http_application_is_the_one_hop_handler() -> None:
    assert isinstance(application.application_mapping["http"], OneHopASGIHandler)


@pytest.mark.django_db(transaction=True)
def test_a_write_through_asgi_takes_one_hop_for_the_whole_chain(tenant: Any, monkeypatch: Any) -> None:
    plug = tenant.plug("hops")
    hops: list[str] = []
    original = sync.SyncToAsync.__call__

    async def counting(self: sync.SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counting)
    body = json.dumps([{"data": n, "at": 1_700_000_000_000 + n} for n in range(3)]).encode()
    headers = {"X-Plug-Id": plug.plug.id, "X-Plug-Auth": plug.auth, "Content-Type": "application/json"}

    status, content = asyncio.run(_call("PUT", "/iot/data/hops", body, headers))

    assert status == 200, content
    assert len(json.loads(content)) == 3
    assert DataPoint.objects.filter(of=plug.plug.id, channel="hops").count() == 3
    # request_started's receivers, the middleware chain with the view and the response's close
    # in one. Django's own ASGIHandler makes about fifteen (two per middleware).
    assert len(hops) == 1, hops


@pytest.mark.django_db(transaction=True)
def test_requests_one_after_another_run_in_one_kept_thread(tenant: Any) -> None:
    """No thread is started per request: an idle request thread serves the next request."""
    plug = tenant.plug("threads")
    threads: list[int] = []

    def started(**kwargs: Any) -> None:
        threads.append(threading.get_ident())

    headers = {"X-Plug-Id": plug.plug.id, "X-Plug-Auth": plug.auth, "Content-Type": "application/json"}

    async def three() -> list[int]:
        return [(await _call("PUT", "/iot/data/threads", b'{"data": 1}', headers))[0] for _ in range(3)]

    signals.request_started.connect(started)
    try:
        statuses = asyncio.run(three())
    finally:
        signals.request_started.disconnect(started)
    assert statuses == [200, 200, 200]
    assert len(threads) == 3
    assert len(set(threads)) == 1, threads
    assert threads[0] != threading.get_ident()  # the request's thread, not the event loop's
