"""Streamed export (SPEC §14): `GET /v3/data/devices/{ref}/properties/{prp}/export` and
`GET /iot/data/{mask}?format=csv|ndjson`, with their bounds and the reads' authorization, in
constant memory through the ASGI application."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tracemalloc
import warnings
from typing import Any

import pytest
from rest_framework.test import APIClient

from data.services import PointIn, points_write
from devices.services.plugs import Enrolled
from plugboard.asgi import application
from plugboard.principals import Principal
from plugboard.timestamps import iso
from tests.conftest import Tenant, plug_headers

T0 = 1_699_920_000_000  # 2023-11-14T00:00:00Z
EXPORT = "/v3/data/devices/_this_/properties/temperature/export"


def write(enrolled: Enrolled, channel: str, points: list[tuple[int, Any]]) -> None:
    plug = enrolled.plug
    principal = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
    results = points_write(
        principal=principal, points=[PointIn(channel=channel, data=v, at=t) for t, v in points], source="http"
    )
    assert all(r.ok for r in results)


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


MIXED = [(T0, 21.5), (T0 + 1_000, "a,b"), (T0 + 2_000, True), (T0 + 3_000, {"x": [1, None]}), (T0 + 4_000, 7)]


@pytest.mark.django_db
def test_a_property_exports_as_csv_and_ndjson_within_bounds(api: APIClient, thing: Enrolled) -> None:
    write(thing, "temperature", MIXED)
    r = api.get(EXPORT, **plug_headers(thing))
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert r["Content-Disposition"] == f'attachment; filename="{thing.plug.id}-temperature.csv"'
    rows = list(csv.reader(io.StringIO(body(r))))
    assert rows == [
        ["t", "v"],
        [iso(T0), "21.5"],
        [iso(T0 + 1_000), "a,b"],
        [iso(T0 + 2_000), "true"],
        [iso(T0 + 3_000), '{"x":[1,null]}'],
        [iso(T0 + 4_000), "7"],
    ]
    r = api.get(
        EXPORT, {"format": "ndjson", "start": iso(T0 + 1_000), "end": iso(T0 + 3_000)}, **plug_headers(thing)
    )
    assert r["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body(r).splitlines()]
    assert lines == [
        {"t": iso(T0 + 1_000), "v": "a,b"},
        {"t": iso(T0 + 2_000), "v": True},
        {"t": iso(T0 + 3_000), "v": {"x": [1, None]}},
    ]
    assert api.get(EXPORT, {"format": "xml"}, **plug_headers(thing)).status_code == 400
    assert api.get(EXPORT, {"start": iso(T0 + 5), "end": iso(T0)}, **plug_headers(thing)).status_code == 400


@pytest.mark.django_db
def test_the_export_follows_the_reads_authorization(
    api: APIClient, tenant: Tenant, other_tenant: Tenant, thing: Enrolled
) -> None:
    write(thing, "temperature", MIXED)
    stranger = other_tenant.plug("stranger")
    path = f"/v3/data/devices/{thing.plug.id}/properties/temperature/export"
    assert api.get(path, **plug_headers(stranger)).status_code == 404  # another account's device
    sibling = tenant.plug("sibling")
    assert api.get(path, **plug_headers(sibling)).status_code == 403  # out of its reach
    r = api.get(path, {"format": "ndjson"}, **tenant.master_headers())
    assert r.status_code == 200 and len(body(r).splitlines()) == len(MIXED)
    # The channel dialect: a plug reads its own records only, the account every plug's.
    write(sibling, "temperature", [(T0, 1)])
    own = api.get("/iot/data/temperature", {"format": "ndjson"}, **plug_headers(sibling))
    assert [json.loads(line)["of"] for line in body(own).splitlines()] == [sibling.plug.id]
    everyone = api.get("/iot/data/%23", {"format": "ndjson"}, **tenant.master_headers())
    assert len(body(everyone).splitlines()) == len(MIXED) + 1


@pytest.mark.django_db
def test_channel_records_export_by_mask_and_bounds(api: APIClient, thing: Enrolled) -> None:
    write(thing, "home/kitchen/temp", [(T0 + i, i) for i in range(3)])
    write(thing, "home/hall/temp", [(T0 + 10, "x")])
    write(thing, "garden/temp", [(T0, 0)])
    headers = plug_headers(thing)
    r = api.get("/iot/data/home/+/temp", {"format": "csv", "after": T0}, **headers)
    assert r.status_code == 200 and r["Content-Disposition"] == 'attachment; filename="home___temp.csv"'
    rows = list(csv.DictReader(io.StringIO(body(r))))
    # By channel, then publisher, then time; `after` is strict.
    assert [(row["channel"], row["at"], row["data"]) for row in rows] == [
        ("home/hall/temp", str(T0 + 10), "x"),
        ("home/kitchen/temp", str(T0 + 1), "1"),
        ("home/kitchen/temp", str(T0 + 2), "2"),
    ]
    assert all(row["of"] == thing.plug.id and len(row["id"]) == 24 and row["expire_at"] == "" for row in rows)
    r = api.get("/iot/data/home/%23", {"format": "ndjson", "before": T0 + 2}, **headers)
    records = [json.loads(line) for line in body(r).splitlines()]
    assert [(x["channel"], x["data"]) for x in records] == [
        ("home/kitchen/temp", 0),
        ("home/kitchen/temp", 1),
    ]
    assert set(records[0]) == {"id", "channel", "data", "at", "of"}
    # The JSON read is unchanged (newest first, a list), and an unknown format is a 400.
    plain = api.get("/iot/data/home/%23", **headers)
    assert plain.status_code == 200 and [x["data"] for x in plain.json()] == ["x", 2, 1, 0]
    assert api.get("/iot/data/home/%23", {"format": "json"}, **headers).json() == plain.json()
    r = api.get("/iot/data/home/%23", {"format": "xls"}, **headers)
    assert r.status_code == 400 and "csv" in r.json()["msg"]


async def _stream(path: str, query: str, headers: dict[str, str]) -> tuple[int, int, int]:
    """GET through the ASGI application as Daphne would; (status, body messages, lines), the
    body counted as it arrives and dropped."""
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    status: list[int] = []
    messages = lines = 0

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal messages, lines
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message.get("body"):
            messages += 1
            lines += message["body"].count(b"\n")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    return status[0], messages, lines


ROWS = 100_000


@pytest.mark.django_db(transaction=True)
def test_100k_rows_stream_through_asgi_in_bounded_memory(thing: Enrolled) -> None:
    for start in range(0, ROWS, 10_000):
        write(thing, "temperature", [(T0 + i * 1_000, i * 0.5) for i in range(start, start + 10_000)])
    headers = {"x-plug-id": thing.plug.id, "x-plug-auth": thing.auth}
    assert asyncio.run(_stream(EXPORT, "format=csv&end=" + iso(T0 + 9_000), headers)) == (200, 2, 11)  # warm
    with warnings.catch_warnings():
        # Django warns when it gathers a sync iterator whole under ASGI: that must not happen.
        warnings.simplefilter("error")
        tracemalloc.start()
        try:
            status, messages, lines = asyncio.run(_stream(EXPORT, "format=csv", headers))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (status, lines) == (200, ROWS + 1)
    assert messages > ROWS // 2_000  # sent page by page, not at the end
    # The CSV alone is ~3.4 MB, the rows as Python objects far more: a page is ~0.1 MB.
    print(f"export peak {peak / 1e6:.2f} MB")
    assert peak < 1.5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
