"""Request bodies: JSON whatever the Content-Type, since device libraries are careless with it."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from plugboard.errors import PayloadTooLarge


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_loads(raw: str | bytes) -> Any:
    """Strict JSON: NaN and Infinity, which Python would accept, are refused."""
    return json.loads(raw, parse_constant=_refuse_constant)


class LenientJSONParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            raw = stream.read() if stream is not None else b""
        except RequestDataTooBig:
            raise PayloadTooLarge()
        if not raw.strip():
            return None
        try:
            return json_loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"body is not valid JSON: {exc}")
