"""Request bodies: JSON. What may be sent is checked before (`plugboard.middleware`: a write whose
Content-Type is not JSON is a 415; one without a Content-Type is read as JSON, as device libraries
are careless with it)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from plugboard.errors import PayloadTooLarge

# Deeper nesting is refused: it would only exhaust the recursion of the encoders that store
# and render the value later (a 500 on every read of it), and no device sends it.
MAX_DEPTH = 64
# No database stores these in text or JSON (PostgreSQL refuses U+0000; nothing encodes a lone
# surrogate as UTF-8), so a value holding one is refused before it reaches a service.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would become infinity
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# Brackets and quotes kept, braces made brackets (the decoder has checked that they pair up).
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether the valid JSON `text` nests arrays and objects more than `limit` deep.

    Read from the text, not the value: escaped quotes and backslashes go, then everything but
    brackets and quotes, then what lies between quotes; each pass then empties the innermost
    pairs, one level. C-speed bytes operations (a 1,000-record body: ~0.1 ms, where walking
    the decoded value took ~0.4 ms)."""
    return _bytes_nest_deeper(text.encode("utf-8", "surrogatepass"), limit)


def _bytes_nest_deeper(raw: bytes, limit: int) -> bool:
    """`_nests_deeper` of the UTF-8 text `raw`."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(_BRACKETS, _NOT_STRUCTURE).split(b'"')[::2])
    for _ in range(limit + 1):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return True


def _has_unstorable_text(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# What UTF-8 JSON never starts with: a NUL (UTF-16/32, which `json.detect_encoding` reads) or
# a byte order mark's first byte.
_NOT_UTF8_START = (b"\x00", b"\xef", b"\xfe", b"\xff")

# One decoder for every call: `json.loads` with hooks would build a new one each time.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


# A run of 19 digits may be an integer beyond 64 bits, which orjson reads as a float where
# Python's decoder keeps it exact (such a text, rare, takes Python's decoder).
_AS_DIGIT_RUNS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # digits 0, the rest space
_LONG_RUN = b"0" * 19


def _has_long_integer(raw: bytes) -> bool:
    # Bytes operations (a 60 KB body: ~50 µs; a regular expression took ~500 µs).
    return _LONG_RUN in raw.translate(_AS_DIGIT_RUNS)


def json_loads(raw: str | bytes) -> Any:
    """Strict JSON: NaN, Infinity and numbers beyond the float range, which Python would accept,
    are refused; so are strings holding U+0000 or a lone surrogate, and nesting deeper than
    `MAX_DEPTH`. Every refusal is a `ValueError`."""
    if type(raw) is bytes and raw.isdigit() and len(raw) < 19 and (raw[0] != 48 or len(raw) == 1):
        return int(raw)  # a whole number without a sign, most devices' payload (no leading 0)
    if isinstance(raw, bytes) and raw[:1] not in _NOT_UTF8_START and not _has_long_integer(raw):
        # UTF-8 bytes (what devices send): orjson decodes them, refusing what strict decoding
        # refuses (invalid UTF-8 and encoded surrogates, NaN, Infinity, numbers out of range,
        # a lone surrogate escape). What it refuses is decoded again below for Python's words.
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if b"\\u" in raw and _has_unstorable_text(value):
                raise ValueError("a string holds U+0000 or an unpaired surrogate")
            if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _bytes_nest_deeper(raw, MAX_DEPTH):
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            return value
    # Decoded strictly here: `json.loads` would let UTF-8-encoded surrogates through.
    text: str = raw.decode(json.detect_encoding(raw)) if isinstance(raw, bytes | bytearray) else raw
    str_caller = text is raw
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    # A NUL or a lone surrogate can only come from a \u escape or a str caller: strictly
    # decoded bytes hold no surrogate, and strict JSON no raw control character in a string.
    if ("\\u" in text or (str_caller and _UNSTORABLE.search(text))) and _has_unstorable_text(value):
        raise ValueError("a string holds U+0000 or an unpaired surrogate")
    # Deeper than MAX_DEPTH needs more than MAX_DEPTH brackets: most texts are not read again.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper(text, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


# The largest whole number a request may carry where one is stored or counted: what an
# integer column holds on every database.
MAX_INT = 2**31 - 1


def is_json_number(value: Any) -> bool:
    """A JSON number as `json_loads` gives it (Python's bool is an int, but not a JSON number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


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


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# Most values are scalars: their JSON text without building an encoder per value.
_SCALAR_JSON: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    str: json.encoder.encode_basestring_ascii,  # type: ignore[attr-defined]
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def json_text(value: Any) -> str:
    """`value` as compact JSON text (what the store keeps of a point's value); `ValueError` for
    NaN/infinity, `TypeError` for what JSON cannot hold."""
    scalar = _SCALAR_JSON.get(type(value))
    return scalar(value) if scalar is not None else _ENCODER.encode(value)
