"""The property dialect's data API (SPEC §6): writes with a receipt, latest values, series,
queries and the device's journal. Views only translate; every write goes through
`data.services.points_write` and every read through `data.property_reads` / `data.aggregation`.

`{ref}` under `data/devices/` names a thing, under `data/apps/` a controller; the other kind is
a 404 there.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from data import schema_docs as docs
from data.aggregation import BadQuery, query_parse, query_run
from data.export import FormatNamesTheExport, export_format, export_response, series_chunks
from data.feeds import BadFeed, body_points, feed_points
from data.models import JournalEntry
from data.property_reads import (
    builtin_name,
    builtin_values,
    device_reachable,
    plug_journal,
    plug_latest_values,
    property_points,
)
from data.services import PointIn, points_write
from devices.access import Mode, takes_writes
from devices.models import Plug, Property
from devices.selectors import property_resolve
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView, page
from plugboard.ratelimits import check_account_points
from plugboard.timestamps import BadTimestamp, iso, now_ms, parse_timestamp

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class DataView(PropertyDialectView):
    """A view on one plug's data; `plug_kind` is set per URL (devices/ → thing, apps/ → controller)."""

    plug_kind: str = Plug.Kind.THING

    def plug(self, ref: str, mode: Mode) -> Plug:
        return device_reachable(principal=self.principal, ref=ref, kind=self.plug_kind, mode=mode)

    def writable_plug(self, ref: str) -> Plug:
        plug = self.plug(ref, Mode.WRITE)
        if not takes_writes(plug):
            raise ApiError(403, f"device {ref} is disabled")
        return plug

    def body(self) -> Any:
        """The parsed JSON body; None when there is none (DRF would give `{}`)."""
        try:
            length = int(self.request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return self.request.data if length else None

    def receipt(self, points: list[PointIn]) -> Response:
        """Store the points (one service call) and answer `{"accepted", "rejected"}`, with
        `errors: [{index, prop, code, message}]` for the first `RECEIPT_ERRORS_MAX` refused
        points when any was. The service matches property names case-insensitively to the
        device's existing ones (a new property keeps the name as written) and decides, counts
        and logs (in debug status) every rejection."""
        check_account_points(self.principal.account_id, len(points))  # 429 past the account's limit
        results = points_write(
            principal=self.principal, points=points, source="http", property_write=True, require_zone=True
        )
        accepted = sum(1 for r in results if r.ok)
        receipt: dict[str, Any] = {"accepted": accepted, "rejected": len(results) - accepted}
        if accepted < len(results):
            refused = ((i, r) for i, r in enumerate(results) if not r.ok)
            receipt["errors"] = [
                {"index": i, "prop": _prop_name(points[i]), "code": r.code, "message": r.message}
                for i, r in itertools.islice(refused, docs.RECEIPT_ERRORS_MAX)
            ]
        return Response(receipt)


def _prop_name(point: PointIn) -> str:
    return point.channel if isinstance(point.channel, str) else ""


def _feed_error(exc: BadFeed) -> ApiError:
    return ApiError(exc.status, exc.message)


@extend_schema_view(**docs.device_data)
class DeviceDataView(DataView):
    """`GET data/devices/{ref}`: latest values. `POST`: `{"prop": value, …}` or a Data Feed."""

    def get(self, request: Request, ref: str) -> Response:
        return Response(plug_latest_values(plug=self.plug(ref, Mode.READ)))

    def post(self, request: Request, ref: str) -> Response:
        plug = self.writable_plug(ref)
        try:
            points = body_points(body=self.body(), device_id=plug.id, now=now_ms())
        except BadFeed as exc:
            raise _feed_error(exc)
        return self.receipt(points)


@extend_schema_view(**docs.properties_feed)
class PropertiesFeedView(DataView):
    """`POST data/devices/{ref}/properties`: a Data Feed naming `prop` per point or per feed."""

    def post(self, request: Request, ref: str) -> Response:
        plug = self.writable_plug(ref)
        try:
            points = feed_points(body=self.body(), device_id=plug.id, prop=None, now=now_ms())
        except BadFeed as exc:
            raise _feed_error(exc)
        return self.receipt(points)


def _bound(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw, require_zone=True)
    except BadTimestamp as exc:
        raise ApiError(400, f"{name}: {exc}")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "limit must be an integer")
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be 1..{MAX_LIMIT}")
    return limit


@extend_schema_view(**docs.property_data)
class PropertyDataView(DataView):
    """`GET data/devices/{ref}/properties/{prp}`: the series. `POST`: a Data Feed into it."""

    def get(self, request: Request, ref: str, prp: str) -> Response:
        plug = self.plug(ref, Mode.READ)
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "order must be asc or desc")
        start, end, limit = _bound(request, "start"), _bound(request, "end"), _limit(request)
        if start is not None and end is not None and start > end:
            raise ApiError(400, "start is after end")
        builtin = builtin_name(prp)
        if builtin is not None and not Property.objects.filter(plug=plug, name__iexact=prp).exists():
            # A built-in property (lastIn, lastOut; a property of its own name wins): its one point.
            kept = builtin_values(plug=plug).get(builtin)
            if kept is None:
                raise ApiError(
                    404, f"device {plug.id} has no {builtin} (a device without a period keeps none)"
                )
            at, value = kept
            inside = (start is None or at >= start) and (end is None or at <= end)
            return Response({"results": [{"t": iso(at), "v": value}] if inside else []})
        prop = property_resolve(plug=plug, ref=prp)
        points = property_points(plug=plug, channel=prop.name, start=start, end=end)
        rows = points.order_by("at" if order == "asc" else "-at").values_list("at", "data")[:limit]
        return Response({"results": [{"t": iso(at), "v": data} for at, data in rows]})

    def post(self, request: Request, ref: str, prp: str) -> Response:
        plug = self.writable_plug(ref)
        # A property id must name an existing property; a name may be new (the device creates it).
        name = property_resolve(plug=plug, ref=prp).name if prp.startswith("_prp_") else prp
        try:
            points = feed_points(body=self.body(), device_id=plug.id, prop=name, now=now_ms())
        except BadFeed as exc:
            raise _feed_error(exc)
        return self.receipt(points)


@extend_schema_view(**docs.property_export)
class PropertyExportView(DataView):
    """`GET data/devices/{ref}/properties/{prp}/export`: the series as CSV or NDJSON, streamed."""

    content_negotiation_class = FormatNamesTheExport

    def get(self, request: Request, ref: str, prp: str) -> StreamingHttpResponse:
        plug = self.plug(ref, Mode.READ)
        prop = property_resolve(plug=plug, ref=prp)
        try:
            fmt = export_format(request.query_params.get("format"), "csv")
        except ValueError as exc:
            raise ApiError(400, str(exc))
        start, end = _bound(request, "start"), _bound(request, "end")
        if start is not None and end is not None and start > end:
            raise ApiError(400, "start is after end")
        points = property_points(plug=plug, channel=prop.name, start=start, end=end)
        return export_response(series_chunks(points, fmt), fmt, f"{plug.id}-{prop.name}")


@extend_schema_view(**docs.property_query)
class PropertyQueryView(DataView):
    """`POST data/devices/{ref}/properties/{prp}/query`: range and aggregators."""

    def post(self, request: Request, ref: str, prp: str) -> Response:
        plug = self.plug(ref, Mode.READ)
        now = now_ms()
        try:
            query = query_parse(body=self.body(), now=now)
        except BadQuery as exc:
            raise ApiError(400, str(exc))
        prop = property_resolve(plug=plug, ref=prp)
        return Response(query_run(plug=plug, channel=prop.name, ref=prp, query=query, now=now))


def _event(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "event": entry.event,
        "source": entry.source,
        "credential": entry.credential,
        "prop": entry.channel or None,
        "pointId": entry.point_id or None,
        "t": iso(entry.at) if entry.at is not None else None,
        "v": entry.data,
        "expireAt": iso(entry.expire_at) if entry.expire_at is not None else None,
        "dateCreated": iso(entry.received_at),
    }


@extend_schema_view(**docs.events)
class EventsView(DataView):
    """`GET data/devices/{ref}/events`: the device's journal, newest first, paged."""

    def get(self, request: Request, ref: str) -> Response:
        plug = self.plug(ref, Mode.READ)
        return Response(page(request, plug_journal(plug=plug), _event))
