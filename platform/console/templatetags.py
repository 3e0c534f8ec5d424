"""Template filters of the console's pages (`{% load console %}`, registered in settings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# Floats JavaScript prints without a fraction: past 2**53 it switches to exponents anyway.
_EXACT = 2**53


def _as_js(value: Any) -> Any:
    """`value` with integral floats as ints, so Python's JSON text equals the browser's
    `JSON.stringify` of the same value (26.0 is `26` there): a live row and a reloaded one
    show the same text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return int(value)
    if isinstance(value, list):
        return [_as_js(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_js(v) for k, v in value.items()}
    return value


@register.filter
def as_json(value: Any) -> str:
    """A data value as JSON text, as the browser writes it (autoescaped like any other text)."""
    return json.dumps(_as_js(value), ensure_ascii=False, separators=(",", ":"))


def _iso(moment: int | datetime) -> str:
    if isinstance(moment, datetime):
        moment = int(moment.timestamp() * 1000)
    return (
        datetime.fromtimestamp(moment / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@register.filter
def ms_time(value: int | datetime | None) -> str:
    """Milliseconds since the epoch (or a datetime) as an ISO 8601 UTC time."""
    return "" if value is None else _iso(value)


@register.filter
def when(value: int | datetime | None) -> SafeString | str:
    """The one way a console page shows a time: `<time datetime="…Z">` holding the ISO 8601 UTC
    instant; console.js rewrites the text as the reader's local `YYYY-MM-DD HH:MM:SS` (the
    same function writes the rows that arrive live). Without script the text stays UTC."""
    if value is None:
        return ""
    iso = _iso(value)
    return format_html('<time datetime="{}" title="{}">{} UTC</time>', iso, iso, iso[:19].replace("T", " "))
