"""Streamed export (SPEC §14): a property's series or a mask's records as CSV or NDJSON, for
any number of rows in constant memory.

Rows are read in keyset pages of `EXPORT_PAGE` (each page one index range scan that starts
where the last one ended: no OFFSET, no cursor held across the response), and each page is
written as one chunk of the response. Under ASGI `plugboard.handlers` pulls the chunks one by
one in the request's thread, so a response is never gathered whole in memory.

Formats (one row per point, oldest first within a series):

- property dialect: CSV `t,v` (ISO 8601 time; a string value as itself, any other value as its
  JSON text), NDJSON `{"t", "v"}` per line;
- channel dialect: CSV `id,channel,of,at,data,expire_at` (`at`/`expire_at` in ms, `data` as
  above), NDJSON the same record as the JSON read returns, per line; ordered by channel, then
  publisher (`of`), then time — the order of the store's key, which each page follows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import StreamingHttpResponse
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from data.models import DataPoint
from plugboard.timestamps import iso

EXPORT_PAGE = 2_000
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
CHANNEL_COLUMNS = ("id", "channel", "of", "at", "data", "expire_at")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else _ENCODER.encode(value)


def series_pages(points: QuerySet[DataPoint]) -> Iterator[list[tuple[int, Any]]]:
    """(at, data) of one series' points, oldest first, a page at a time (keyset on `at`, the
    series' key)."""
    after: int | None = None
    while True:
        page = points if after is None else points.filter(at__gt=after)
        rows = list(page.order_by("at").values_list("at", "data")[:EXPORT_PAGE])
        if rows:
            yield rows
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1][0]


def record_pages(points: QuerySet[DataPoint]) -> Iterator[list[tuple[Any, ...]]]:
    """`CHANNEL_COLUMNS` of the points, by (channel, of, at), a page at a time (keyset on the
    store's key after the account)."""
    table = DataPoint._meta.db_table
    after: tuple[str, str, int] | None = None
    while True:
        page = points
        if after is not None:
            # A row comparison: the index on the key starts right after the last row.
            # (The table's name comes from the model; the values are parameters.)
            key = f'("{table}"."channel", "{table}"."of", "{table}"."at") > (%s, %s, %s)'
            page = page.filter(RawSQL(key, after, output_field=BooleanField()))  # noqa: S611
        rows = list(page.order_by("channel", "of", "at").values_list(*CHANNEL_COLUMNS)[:EXPORT_PAGE])
        if rows:
            yield rows
        if len(rows) < EXPORT_PAGE:
            return
        after = (rows[-1][1], rows[-1][2], rows[-1][3])


def series_chunks(points: QuerySet[DataPoint], fmt: str) -> Iterator[bytes]:
    """The series as `fmt` ("csv" or "ndjson"), one chunk per page (CSV: a header first)."""
    if fmt == "csv":
        yield b"t,v\r\n"
    for rows in series_pages(points):
        if fmt == "csv":
            out = io.StringIO()
            csv.writer(out).writerows((iso(at), _cell(v)) for at, v in rows)
            yield out.getvalue().encode()
        else:
            yield "".join(_ENCODER.encode({"t": iso(at), "v": v}) + "\n" for at, v in rows).encode()


def record_chunks(points: QuerySet[DataPoint], fmt: str) -> Iterator[bytes]:
    """The records as `fmt`, one chunk per page (CSV: a header first)."""
    if fmt == "csv":
        yield (",".join(CHANNEL_COLUMNS) + "\r\n").encode()
    for rows in record_pages(points):
        if fmt == "csv":
            out = io.StringIO()
            csv.writer(out).writerows(
                (oid, channel, of, at, _cell(data), "" if expire is None else expire)
                for oid, channel, of, at, data, expire in rows
            )
            yield out.getvalue().encode()
        else:
            lines = []
            for oid, channel, of, at, data, expire in rows:
                record = {"id": oid, "channel": channel, "data": data, "at": at, "of": of}
                if expire is not None:
                    record["expire_at"] = expire
                lines.append(_ENCODER.encode(record) + "\n")
            yield "".join(lines).encode()


class FormatNamesTheExport(DefaultContentNegotiation):
    """For the views that export: `?format=csv|ndjson` names the export's format, not one of
    DRF's renderers (which would answer 404 to a format it has no renderer for). Their other
    answers (the JSON read, errors) are JSON."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def export_format(raw: str | None, default: str) -> str:
    """The `format` asked for ("csv", "ndjson"), `default` when none is; ValueError otherwise."""
    if raw is None or raw == "":
        return default
    if raw not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return raw


def export_response(chunks: Iterator[bytes], fmt: str, name: str) -> StreamingHttpResponse:
    """A download of `chunks` in `fmt`, saved as `name`.`fmt` (what a file name may not hold
    becomes `_`)."""
    response = StreamingHttpResponse(chunks, content_type=FORMATS[fmt])
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "data"
    response["Content-Disposition"] = f'attachment; filename="{safe}.{fmt}"'
    return response
