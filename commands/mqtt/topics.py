"""MQTT 3.1.1 topic names, topic filters and matching (spec §4.7).

A *topic name* is what a PUBLISH is sent to (no wildcards); a *topic filter* is what a SUBSCRIBE
asks for (may hold `+` for one level and a trailing `#` for any number of levels).
"""

from __future__ import annotations

MAX_TOPIC_BYTES = 65535  # a topic travels as a UTF-8 string with a 2-byte length prefix


class InvalidTopic(ValueError):
    """A topic name or filter that MQTT 3.1.1 does not allow; the message says why."""


def _check_string(topic: str, what: str) -> None:
    if not topic:
        raise InvalidTopic(f"empty {what}")
    if "\x00" in topic:
        raise InvalidTopic(f"{what} contains U+0000")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates cannot travel as UTF-8
        raise InvalidTopic(f"{what} is not valid UTF-8")
    if size > MAX_TOPIC_BYTES:
        raise InvalidTopic(f"{what} longer than {MAX_TOPIC_BYTES} bytes")


def validate_topic_name(topic: str) -> None:
    """Raise `InvalidTopic` unless `topic` may be published to: non-empty, no wildcards."""
    _check_string(topic, "topic name")
    if "+" in topic or "#" in topic:
        raise InvalidTopic("wildcard in topic name")


def validate_topic_filter(topic_filter: str) -> None:
    """Raise `InvalidTopic` unless `topic_filter` may be subscribed to.

    `+` must occupy a whole level; `#` must occupy a whole level and be the last one.
    """
    _check_string(topic_filter, "topic filter")
    if "+" not in topic_filter and "#" not in topic_filter:
        return
    levels = topic_filter.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise InvalidTopic("'#' must be a whole, last level")
        if "+" in level and level != "+":
            raise InvalidTopic("'+' must be a whole level")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a valid `topic_filter` matches a valid topic name, with 3.1.1 semantics.

    `sport/#` also matches `sport` (the parent level); topics starting with `$` are not matched
    by a filter starting with a wildcard, so `#` does not see `$SYS/...`.
    """
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    topic_levels = topic.split("/")
    depth = len(topic_levels)
    filter_levels = topic_filter.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= depth:
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == depth
