"""Template filters of the console's pages (`{% load console %}`, registered in settings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """A data value as JSON text (autoescaped by the template like any other text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@register.filter
def ms_time(value: int | None) -> str:
    """Milliseconds since the epoch as an ISO 8601 UTC time."""
    if value is None:
        return ""
    return (
        datetime.fromtimestamp(value / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
