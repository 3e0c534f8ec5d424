"""Strict JSON (plugboard/parsers.py): the nesting limit read from the text agrees with the
depth of the decoded value, whatever the strings hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugboard.parsers import MAX_DEPTH, _nests_deeper, json_loads

# Strings full of what the text reading must not mistake for structure.
_TRICKY = st.text(alphabet=st.sampled_from(list('[]{}"\\,:ab\u00e9\u2028')), max_size=6)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TRICKY, children, max_size=3),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=_VALUES, ascii_only=st.booleans())
def test_the_text_reading_agrees_with_the_decoded_depth(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    depth = _depth(value)
    for limit in range(depth + 2):
        assert _nests_deeper(text, limit) == (depth > limit), (text, limit)


def _nested(depth: int, leaf: str = "1") -> bytes:
    text = leaf
    for level in range(depth):
        text = f'{{"k{level}":{text}}}' if level % 2 else f"[{text}]"
    return text.encode()


def test_the_limit_is_exact() -> None:
    assert json_loads(_nested(MAX_DEPTH)) is not None
    with pytest.raises(ValueError, match="nested deeper"):
        json_loads(_nested(MAX_DEPTH + 1))


def test_brackets_inside_strings_and_escapes_are_not_structure() -> None:
    # Deep-looking strings in a flat value, with escaped quotes and backslashes around them.
    tricky = '"\\\\\\"' + "[" * (MAX_DEPTH + 5) + '\\\\"'
    value = json_loads(("[" + ",".join([tricky] * (MAX_DEPTH + 1)) + "]").encode())
    assert len(value) == MAX_DEPTH + 1
    # And a deep value whose strings hold closing brackets.
    with pytest.raises(ValueError, match="nested deeper"):
        json_loads(_nested(MAX_DEPTH + 1, leaf='"]]]}}}\\\\"'))


@pytest.mark.parametrize(
    "body",
    [b'"a\\u0000b"', b'{"\\udcff": 1}', '"\u0000"'.encode(), b'"\xed\xb3\xbf"'],
    ids=["escaped-nul", "escaped-surrogate", "raw-nul", "encoded-surrogate"],
)
def test_unstorable_text_is_refused_from_bytes(body: bytes) -> None:
    with pytest.raises((ValueError, UnicodeDecodeError)):
        json_loads(body)


def test_a_str_caller_with_a_raw_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        json_loads('["\udcff"]')
