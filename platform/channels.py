"""Channel names and masks (SPEC §4, §5)."""

from __future__ import annotations

import functools
import re

MAX_CHANNEL_BYTES = 200


class BadChannel(ValueError):
    pass


def validate_channel(channel: object) -> str:
    """A publishable channel: `/`-separated non-empty levels, no wildcards, ≤ 200 bytes."""
    if not isinstance(channel, str) or not channel:
        raise BadChannel("channel is required")
    return _validate_channel_text(channel)


@functools.lru_cache(maxsize=8192)
def _validate_channel_text(channel: str) -> str:
    # Cached: a batch writes the same few channels a thousand times (refusals are not cached).
    try:
        size = len(channel.encode())
    except UnicodeEncodeError:  # a lone surrogate: no database stores it
        raise BadChannel("channel is not valid UTF-8")
    if size > MAX_CHANNEL_BYTES:
        raise BadChannel(f"channel is longer than {MAX_CHANNEL_BYTES} bytes")
    if "+" in channel or "#" in channel:
        raise BadChannel("wildcards (+, #) are not allowed in a published channel")
    if "" in channel.split("/"):
        raise BadChannel("channel levels must not be empty")
    if any(ord(c) < 32 for c in channel):
        raise BadChannel("channel must not hold control characters")
    return channel


def validate_mask(mask: str) -> str:
    """A read mask: `+` is exactly one level, `#` zero or more levels and only last."""
    if not mask or len(mask.encode(errors="replace")) > MAX_CHANNEL_BYTES or "\x00" in mask:
        raise BadChannel("invalid channel mask")
    levels = mask.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            if i != len(levels) - 1:
                raise BadChannel("# is allowed only as the last level")
        elif level == "+":
            continue
        elif not level or "+" in level or "#" in level:
            raise BadChannel(f"invalid mask level {level!r}")
    return mask


def mask_is_literal(mask: str) -> bool:
    return "+" not in mask and "#" not in mask


def mask_regex(mask: str) -> str:
    """A regular expression (PostgreSQL and SQLite REGEXP alike) matching the mask's channels."""
    levels = mask.split("/")
    parts: list[str] = []
    trailing_hash = levels[-1] == "#"
    if trailing_hash:
        levels = levels[:-1]
    for level in levels:
        parts.append("[^/]+" if level == "+" else re.escape(level))
    body = "/".join(parts)
    if trailing_hash:
        # `home/#` matches `home` and everything below it; a bare `#` matches everything.
        return f"^{body}(/.*)?$" if body else "^.+$"
    return f"^{body}$"


def mask_prefix(mask: str) -> str:
    """The literal leading part of a mask, for an index-friendly prefix filter."""
    prefix: list[str] = []
    for level in mask.split("/"):
        if level in ("+", "#"):
            break
        prefix.append(level)
    return "/".join(prefix)
