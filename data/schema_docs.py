"""OpenAPI description of the data views of both dialects (documentation-only serializers;
the views parse their bodies themselves). Applied with `extend_schema_view` in
`data.channel_api` and `data.property_api`."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from data.aggregation import AGGREGATORS, UNITS
from data.aggregation import DEFAULT_LIMIT as QUERY_DEFAULT_LIMIT
from data.aggregation import MAX_LIMIT as QUERY_MAX_LIMIT
from data.selectors import DEFAULT_LIMIT
from devices.schema_docs import PAGE_PARAMETERS, page_of
from plugboard.schema import (
    AnyJson,
    StringOrList,
    Timestamp,
    channel_errors,
    example,
    json_body,
    property_errors,
    query,
)

OID = "5f1e2d3c4b5a69788796a5b4"
PLUG = "dev-0123456789abcdef01234567"

# --- channel dialect (/iot/data, /iot/channel) ------------------------------------------------------


class ChannelRecordInSerializer(serializers.Serializer):
    channel = serializers.CharField(required=False, help_text="wins over the URL's channel")
    data = AnyJson(help_text="the value: any JSON")  # type: ignore[assignment]  # a field, not .data
    at = Timestamp(required=False, help_text="when the value was measured (default: now)")
    of = serializers.CharField(required=False, help_text="the plug the data is of (default: the caller)")
    id = serializers.CharField(required=False, help_text="an OID: replaces that record's data")
    expire_at = Timestamp(required=False, help_text="when the record expires")
    ttl = serializers.IntegerField(required=False, min_value=0, help_text="seconds to live (extension)")

    class Meta:
        ref_name = "ChannelRecordIn"


class ChannelRecordSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the record's OID")
    channel = serializers.CharField()
    data = AnyJson()  # type: ignore[assignment]  # a field, not .data
    at = serializers.IntegerField(help_text="ms since the epoch")
    of = serializers.CharField(help_text="the publishing plug or account")
    expire_at = serializers.IntegerField(required=False, help_text="only when the record expires")

    class Meta:
        ref_name = "ChannelRecord"


class ChannelFiltersSerializer(serializers.Serializer):
    id = StringOrList(required=False, help_text="an OID, a CSV of OIDs or an array of OIDs")
    before = Timestamp(required=False, help_text="a timestamp or an OID (strict)")
    after = Timestamp(required=False, help_text="a timestamp or an OID (strict)")
    at = StringOrList(required=False, help_text="timestamps: a CSV or an array")
    of = StringOrList(required=False, help_text="publisher ids: a CSV or an array")

    class Meta:
        ref_name = "ChannelFilters"


_FILTERS = [
    query("before", str, "timestamp (ms, numeric string, ISO 8601) or OID; strict"),
    query("after", str, "timestamp (ms, numeric string, ISO 8601) or OID; strict"),
    query("at", str, "CSV of timestamps"),
    query("of", str, "CSV of publisher (plug or account) ids"),
]
_WINDOW = [
    query("offset", int, "items to skip"),
    query("limit", int, f"at most this many items (default {DEFAULT_LIMIT}; 0 = no limit)"),
]
_RECORDS_IN = PolymorphicProxySerializer(
    component_name="ChannelPublish",
    serializers=[ChannelRecordInSerializer, ChannelRecordInSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
_OID_OR_OIDS = {
    "oneOf": [
        {"type": "string", "description": "the OID of the one record"},
        {"type": "array", "items": {"type": "string"}, "description": "each record's OID, in order"},
    ]
}
_MIXED = {
    "type": "array",
    "items": {"oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/ChannelError"}]},
}

_EXPORT_FORMAT = query(
    "format", str, "csv or ndjson: stream every matching record as a download", enum=["json", "csv", "ndjson"]
)

channel_data = {
    "put": extend_schema(
        summary="Publish one record or an array of records",
        request=json_body(_RECORDS_IN),
        responses={
            200: OpenApiResponse(_OID_OR_OIDS, description="every record stored"),
            207: OpenApiResponse(_MIXED, description="some stored: per record its OID or its error"),
            **channel_errors(),
        },
        examples=[
            example("one record", {"data": 21.5, "at": 1767225600000}),
            example("records", [{"channel": "home/temp", "data": 21.5}, {"channel": "home/hum", "data": 40}]),
            example("stored", OID, request=False),
        ],
    ),
    "get": extend_schema(
        summary="Read the records of the channels matching a mask, newest first; or export them all",
        description=(
            "With `format=csv` or `format=ndjson` every matching record (no `offset`/`limit`) is "
            "streamed as a download, ordered by channel, publisher, then time. CSV columns: "
            "id, channel, of, at, data (a string as itself, any other value as JSON), expire_at."
        ),
        parameters=[*_FILTERS, *_WINDOW, _EXPORT_FORMAT],
        responses={
            (200, "application/json"): ChannelRecordSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            **channel_errors(),
        },
    ),
    "delete": extend_schema(
        summary="Remove records: body (or query) filters id, before, after, at, of",
        request=json_body(ChannelFiltersSerializer),
        parameters=[query("id", str, "OID or CSV of OIDs"), *_FILTERS],
        responses={
            200: OpenApiResponse(OpenApiTypes.INT, description="the number removed"),
            **channel_errors(),
        },
        examples=[example("before", {"before": "2026-01-01T00:00:00Z"})],
    ),
}
channel_list = {
    "get": extend_schema(
        summary="Names of the channels matching a mask that hold matching records",
        parameters=_FILTERS + _WINDOW,
        responses={
            200: OpenApiResponse({"type": "array", "items": {"type": "string"}}, description="channel names"),
            **channel_errors(),
        },
    ),
}

# --- property dialect (/v3/data/devices|apps/…) ---------------------------------------------------


class DataPointSerializer(serializers.Serializer):
    t = Timestamp(required=False, help_text="ISO 8601 with a zone (default: the feed's t, else now)")
    v = AnyJson(help_text="the value")
    prop = serializers.CharField(required=False, help_text="the property (wins over the feed's)")
    tt = serializers.IntegerField(required=False, help_text="ms after the feed's t (or now)")
    ttl = serializers.IntegerField(required=False, min_value=0, help_text="seconds to live")

    class Meta:
        ref_name = "DataPoint"


class DataFeedSerializer(serializers.Serializer):
    dps = DataPointSerializer(many=True)
    t = Timestamp(required=False, help_text="the base time of the points")
    prop = serializers.CharField(required=False, help_text="the property of points that name none")
    ttl = serializers.IntegerField(required=False, min_value=0, help_text="seconds to live, every point")

    class Meta:
        ref_name = "DataFeed"


_VALUES = {
    "type": "object",
    "additionalProperties": {},
    "description": "`{property: value}`: one point per property, at server time",
}
# A receipt names why points were refused, for the first this many (`rejected` counts them all).
RECEIPT_ERRORS_MAX = 10
RECEIPT = inline_serializer(
    "Receipt",
    {
        "accepted": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "errors": inline_serializer(
            "ReceiptError",
            {
                "index": serializers.IntegerField(help_text="the point's place in the request, from 0"),
                "prop": serializers.CharField(help_text="the property it was written to"),
                "code": serializers.CharField(help_text="e.g. `BadValue`, `BadTimestamp`, `NotPublic`"),
                "message": serializers.CharField(),
            },
            many=True,
            required=False,
            help_text=(
                f"only when `rejected` > 0: why, for the first {RECEIPT_ERRORS_MAX} refused points (an "
                "extension: Connio's clients read `accepted` and `rejected` and ignore it)"
            ),
        ),
    },
)
_TV = inline_serializer("TimedValue", {"t": serializers.CharField(help_text="ISO 8601"), "v": AnyJson()})
_SERIES = inline_serializer("Series", {"results": _TV.__class__(many=True)})
_QUERY_RESULT = inline_serializer(
    "QueryResult",
    {
        "sampleSize": serializers.IntegerField(help_text="raw points in the range"),
        "results": inline_serializer(
            "QueryResultItem", {"ref": serializers.CharField(), "values": _TV.__class__(many=True)}, many=True
        ),
    },
)
_SAMPLING = inline_serializer(
    "Duration",
    {
        "value": serializers.FloatField(min_value=0),
        "unit": serializers.ChoiceField([u + "s" for u in UNITS]),
    },
)


class QuerySerializer(serializers.Serializer):
    startAbsolute = Timestamp(required=False)
    startRelative = _SAMPLING.__class__(required=False)
    endAbsolute = Timestamp(required=False)
    endRelative = _SAMPLING.__class__(required=False)
    aggregators = inline_serializer(
        "Aggregator",
        {"name": serializers.ChoiceField(AGGREGATORS), "sampling": _SAMPLING.__class__(required=False)},
        many=True,
        required=False,
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=QUERY_MAX_LIMIT, help_text=f"default {QUERY_DEFAULT_LIMIT}"
    )
    order = serializers.ChoiceField(["asc", "desc"], required=False)

    class Meta:
        ref_name = "Query"


EVENT = inline_serializer(
    "Event",
    {
        "id": serializers.CharField(),
        "event": serializers.CharField(),
        "source": serializers.CharField(),
        "credential": serializers.CharField(allow_null=True),
        "prop": serializers.CharField(allow_null=True),
        "pointId": serializers.CharField(allow_null=True),
        "t": serializers.CharField(allow_null=True),
        "v": AnyJson(),
        "expireAt": serializers.CharField(allow_null=True),
        "dateCreated": serializers.CharField(),
    },
)


_FEED_EXAMPLE = {"dps": [{"t": "2026-01-01T00:00:00Z", "v": 21.5}, {"v": 22, "tt": 1000}]}

device_data = {
    "get": extend_schema(
        summary="The latest value of each property",
        responses={200: OpenApiResponse(_VALUES, description="`{property: value}`"), **property_errors()},
    ),
    "post": extend_schema(
        summary="Write values: `{property: value, …}` or a Data Feed naming `prop` per point",
        # anyOf: a Data Feed is an object too (one holding `dps`).
        request=json_body({"anyOf": [{"$ref": "#/components/schemas/DataFeed"}, _VALUES]}),
        responses={200: RECEIPT, **property_errors()},
        examples=[
            example("values", {"temperature": 21.5, "door": "open"}),
            example("feed", {"dps": [{"prop": "temperature", "v": 21.5}]}),
        ],
    ),
}
properties_feed = {
    "post": extend_schema(
        summary="Write a Data Feed whose points (or the feed) name their property",
        request=json_body(DataFeedSerializer),
        responses={200: RECEIPT, **property_errors()},
        examples=[example("feed", {"prop": "temperature", **_FEED_EXAMPLE})],
    ),
}
property_data = {
    "get": extend_schema(
        summary="The property's values in a time range",
        parameters=[
            query("start", str, "ISO 8601 with a zone (inclusive)"),
            query("end", str, "ISO 8601 with a zone (inclusive)"),
            query("limit", int, "1..1000 (default 100)"),
            query("order", str, "desc (default) or asc", enum=["asc", "desc"]),
        ],
        responses={200: _SERIES, **property_errors()},
    ),
    "post": extend_schema(
        summary="Write a Data Feed into the property (a new name creates it)",
        request=json_body(DataFeedSerializer),
        responses={200: RECEIPT, **property_errors()},
        examples=[example("feed", _FEED_EXAMPLE)],
    ),
}
property_export = {
    "get": extend_schema(
        summary="Export the property's values in a time range as CSV or NDJSON, streamed",
        description=(
            "Every point of the range, oldest first, in constant memory whatever their number. "
            "CSV: a header `t,v`, then one row per point (ISO 8601 time; a string value as itself, "
            'any other value as JSON). NDJSON: one `{"t", "v"}` object per line.'
        ),
        parameters=[
            query("format", str, "csv (default) or ndjson", enum=["csv", "ndjson"]),
            query("start", str, "ISO 8601 with a zone (inclusive)"),
            query("end", str, "ISO 8601 with a zone (inclusive)"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            **property_errors(),
        },
    ),
}
property_query = {
    "post": extend_schema(
        summary="Query a time range with aggregators",
        request=json_body(QuerySerializer),
        responses={200: _QUERY_RESULT, **property_errors()},
        examples=[
            example(
                "hourly average of the last day",
                {
                    "startRelative": {"value": 1, "unit": "days"},
                    "aggregators": [{"name": "avg", "sampling": {"value": 1, "unit": "hours"}}],
                },
            )
        ],
    ),
}
events = {
    "get": extend_schema(
        summary="The device's journal, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(EVENT.__class__, "EventPage"), **property_errors()},
    ),
}
