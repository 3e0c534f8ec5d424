"""Channel dialect, data side (SPEC §5): publish, read and remove data points; list channels.

The views only translate: CloudPlugs' JSON records and query filters in, `PointIn`s and
`PointFilter`s to the write service and the selectors, OIDs and records out.

Decisions where CloudPlugs leaves room (documented in the README):
- a read without `limit` returns at most `DEFAULT_LIMIT` items; `limit=0` returns all;
- `before`/`after` are strict; an OID bound compares ids, a timestamp bound compares `at`;
- an array over `PLUGBOARD["MAX_BATCH"]` records is refused whole with 413;
- an array none of whose records is stored is a 400 whose `msg` lists each record's cause;
- `DELETE` reads its filters from the body, else from the query string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from data import schema_docs as docs
from data.export import FormatNamesTheExport, export_format, export_response, record_chunks
from data.selectors import DEFAULT_LIMIT, PointFilter, channels_read, points_matching, points_read
from data.services import MISSING, PointIn, PointResult, points_delete, points_write
from plugboard.channels import BadChannel, validate_mask
from plugboard.errors import ApiError
from plugboard.identifiers import is_oid
from plugboard.parsers import MAX_INT
from plugboard.ratelimits import check_account_points
from plugboard.timestamps import BadTimestamp, parse_timestamp
from plugboard.views import PlatformView

RECORD_FIELDS = ("channel", "data", "at", "of", "id", "expire_at", "ttl")
MAX_MESSAGE = 2_000
MAX_COUNT = MAX_INT


class ChannelDialectView(PlatformView):
    """Base of the `/iot/data…` and `/iot/channel…` views."""


# --- input translation -------------------------------------------------------------------


def _mask(raw: str | None) -> str:
    try:
        return validate_mask(raw or "#")
    except BadChannel as exc:
        raise ApiError(400, f"{exc}: {raw!r}")


def _items(value: Any, name: str) -> list[Any]:
    """A CSV string, a JSON array (of values or CSV strings) or a single value, as a list."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    items: list[Any] = []
    for v in values:
        if isinstance(v, str):
            items.extend(part.strip() for part in v.split(",") if part.strip())
        elif isinstance(v, int | float) and not isinstance(v, bool):
            items.append(v)
        else:
            raise ApiError(400, f"{name} must be a CSV string or an array")
    return items


def _timestamp(value: Any, name: str) -> int:
    try:
        return parse_timestamp(value)
    except BadTimestamp as exc:
        raise ApiError(400, f"{name}: {exc}")


def _bound(value: Any, name: str) -> int | str | None:
    """`before`/`after`: an OID or a timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and is_oid(value.lower()):
        return value.lower()
    return _timestamp(value, name)


def _filters(mask: str, source: Callable[[str], Any]) -> PointFilter:
    ids = _items(source("id"), "id")
    if not all(isinstance(i, str) and is_oid(i.lower()) for i in ids):
        raise ApiError(400, "id must be an OID (24 hex digits), a CSV of OIDs or an array of OIDs")
    of = _items(source("of"), "of")
    if not all(isinstance(o, str) for o in of):
        raise ApiError(400, "of must be plug ids")
    return PointFilter(
        mask=mask,
        ids=[i.lower() for i in ids],
        before=_bound(source("before"), "before"),
        after=_bound(source("after"), "after"),
        at=[_timestamp(t, "at") for t in _items(source("at"), "at")],
        of=of,
    )


def _query_source(request: Request) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        values = request.query_params.getlist(name)
        return values[0] if len(values) == 1 else (values or None)

    return get


def _count(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    # Bounded so the database's LIMIT/OFFSET (a signed 64-bit integer) never overflows.
    if not 0 <= value <= MAX_COUNT:
        raise ApiError(400, f"{name} must be a whole number from 0 to {MAX_COUNT}")
    return value


def _point(record: dict[str, Any], url_channel: str | None) -> PointIn:
    # The record's own channel overrides the URL's (SPEC §5).
    channel = record.get("channel")
    return PointIn(
        channel=url_channel if channel is None else channel,
        data=record.get("data", MISSING),
        at=record.get("at"),
        of=record.get("of"),
        id=record.get("id"),
        expire_at=record.get("expire_at"),
        ttl=record.get("ttl"),
    )


def _record(point: dict[str, Any]) -> dict[str, Any]:
    # `expire_at` only when the point has one, as CloudPlugs answers.
    record = {k: point[k] for k in ("id", "channel", "data", "at", "of")}
    if point["expire_at"] is not None:
        record["expire_at"] = point["expire_at"]
    return record


def _error(status: int, message: str) -> dict[str, Any]:
    return {"err": status, "msg": message}


def _outcome(result: PointResult) -> str | dict[str, Any]:
    return result.id if result.id is not None else _error(result.status, result.message)


# --- views --------------------------------------------------------------------------------------


@extend_schema_view(**docs.channel_data)
class DataView(ChannelDialectView):
    """`PUT|GET|DELETE /iot/data[/{channel or mask}]`."""

    content_negotiation_class = FormatNamesTheExport

    def put(self, request: Request, channel: str | None = None) -> Response:
        body = request.data
        if isinstance(body, dict):
            check_account_points(self.principal.account_id, 1)  # 429 past the account's limit
            result = points_write(principal=self.principal, points=[_point(body, channel)], source="http")[0]
            if result.id is None:
                raise ApiError(result.status, result.message)
            return Response(result.id)
        if not isinstance(body, list):
            raise ApiError(400, "the body must be a record (JSON object) or an array of records")
        if not body:
            raise ApiError(400, "the array of records is empty")
        limit = settings.PLUGBOARD["MAX_BATCH"]
        if len(body) > limit:
            raise ApiError(413, f"{len(body)} records in one request; at most {limit}")
        outcomes: list[str | dict[str, Any] | None] = [None] * len(body)
        positions, points = [], []
        for i, record in enumerate(body):
            if isinstance(record, dict):
                positions.append(i)
                points.append(_point(record, channel))
            else:
                outcomes[i] = _error(400, "a record must be a JSON object")
        if points:
            check_account_points(self.principal.account_id, len(points))
            results = points_write(principal=self.principal, points=points, source="http")
            for i, result in zip(positions, results, strict=True):
                outcomes[i] = _outcome(result)
        stored = sum(isinstance(o, str) for o in outcomes)
        if stored == len(outcomes):
            return Response(outcomes)
        if stored:
            return Response(outcomes, status=207)
        causes = "; ".join(f"#{i}: {o['msg']}" for i, o in enumerate(outcomes) if isinstance(o, dict))
        raise ApiError(400, f"no record was stored: {causes}"[:MAX_MESSAGE])

    def get(self, request: Request, channel: str | None = None) -> Response | StreamingHttpResponse:
        filters = _filters(_mask(channel), _query_source(request))
        raw_format = request.query_params.get("format")
        if raw_format not in (None, "", "json"):
            try:
                fmt = export_format(raw_format, "csv")
            except ValueError as exc:
                raise ApiError(400, f"{exc}, or json (the default)")
            # An export: every matching record (no offset or limit), streamed.
            rows = points_matching(principal=self.principal, filters=filters)
            return export_response(record_chunks(rows, fmt), fmt, filters.mask if channel else "data")
        points = points_read(
            principal=self.principal,
            filters=filters,
            offset=_count(request, "offset", 0),
            limit=_count(request, "limit", DEFAULT_LIMIT),
        )
        return Response([_record(p) for p in points])

    def delete(self, request: Request, channel: str | None = None) -> Response:
        body = request.data if request.data is not None else {}
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object of filters: id, before, after, at, of")
        query = _query_source(request)

        def source(name: str) -> Any:
            # The body's filters first; a client whose DELETE carries no body may use the query.
            return body[name] if name in body else query(name)

        filters = _filters(_mask(channel), source)
        if not (filters.ids or filters.at or filters.before is not None or filters.after is not None):
            raise ApiError(
                400, "at least one of id, before, after, at is required (JSON body or query string)"
            )
        return Response(points_delete(principal=self.principal, filters=filters, source="http"))


@extend_schema_view(**docs.channel_list)
class ChannelListView(ChannelDialectView):
    """`GET /iot/channel[/{mask}]`: names of the channels holding matching data."""

    def get(self, request: Request, mask: str | None = None) -> Response:
        filters = _filters(_mask(mask), _query_source(request))
        channels = channels_read(
            principal=self.principal,
            filters=filters,
            offset=_count(request, "offset", 0),
            limit=_count(request, "limit", DEFAULT_LIMIT),
        )
        return Response(channels)
