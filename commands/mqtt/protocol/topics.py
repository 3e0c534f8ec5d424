"""MQTT 3.1.1 topic names, topic filters and matching (spec §4.7), and the device topic grammar.

A *topic name* is what a PUBLISH is sent to (no wildcards); a *topic filter* is what a SUBSCRIBE
asks for (may hold `+` for one level and a trailing `#` for any number of levels).

The device topic families of SPEC §7 are parsed here into small typed values (which family,
which plug, which property or channel mask); who may use them is the endpoint's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from plugboard.channels import BadChannel, validate_mask  # pure: imports neither Django nor asyncio

MAX_TOPIC_BYTES = 0xFFFF  # a topic travels as a UTF-8 string with a 2-byte length prefix


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


# --- device topic families (SPEC §7) -------------------------------------------------------

# The device families' prefixes: Csip.io's spelling, and the Connio SDKs' (SPEC §7). Every
# family below is built from them; `DEVICE_PREFIX` is the one replies use when nothing says.
DEVICE_PREFIX = "csipio/"
DEVICE_PREFIXES = (DEVICE_PREFIX, "connio/")
_OUT = "data/out/devices/"  # after a prefix: device → platform, properties and Data Feeds
_IN = "data/in/devices/"  # after a prefix: platform → device, commands
_CHANNEL = "/data/"  # `{plug}/data/{channel}`: the channel dialect, both ways
_PROVISIONS = "provisions"  # after a prefix: zero-touch provisioning requests, and `/{client id}` answers


def _after(topic: str, family: str) -> tuple[str, str] | None:
    """(prefix, the rest) when `topic` starts with a device prefix and then `family`."""
    for prefix in DEVICE_PREFIXES:
        if topic.startswith(prefix) and topic.startswith(family, len(prefix)):
            return prefix, topic[len(prefix) + len(family) :]
    return None


class Family(Enum):
    PROPERTY = "property"  # {prefix}data/out/devices/{id}/properties/{name}
    FEED = "feed"  # {prefix}data/out/devices/{id}/json
    COMMANDS = "commands"  # {prefix}data/in/devices/{id}/properties/{name}
    CHANNEL = "channel"  # {plug}/data/{channel}
    PROVISIONS = "provisions"  # {prefix}provisions/{client id}: provisioning answers
    MIRROR = "mirror"  # {account}/devices/{device}/properties/{name}, {account}/apps/{app}/devices/…,
    # and the alert notifications {account}/alerts/{device}


@dataclass(frozen=True)
class DeviceTopic:
    """Where a PUBLISH goes: a property, a Data Feed, or a channel of the channel dialect."""

    family: Family
    plug_id: str
    name: str = ""  # the property (as written in the topic) or the channel
    prefix: str = DEVICE_PREFIX  # the spelling the device used (property and feed families)


@dataclass(frozen=True)
class DeviceFilter:
    """What a SUBSCRIBE asks for: a plug's commands, or live records of channels under a mask."""

    family: Family  # COMMANDS, CHANNEL, PROVISIONS or MIRROR
    plug_id: str | None  # None: `+`, every plug the subscriber may read (CHANNEL only)
    mask: str = ""  # the channel mask (CHANNEL only)
    client_id: str = ""  # whose provisioning answers (PROVISIONS only)
    mirror: MirrorFilter | None = None  # what a mirror filter names (MIRROR only)


@dataclass(frozen=True)
class MirrorFilter:
    """What a device mirror filter names (SPEC §13): the account-name level, and the app and
    the device it narrows to (None: any, a `+` or a `#` there)."""

    account: str
    apps: bool  # the `{account}/apps/{app}/devices/…` family, else `{account}/devices/…`
    app: str | None = None
    device: str | None = None  # a device id or name, as written (lower case)
    alerts: bool = False  # the `{account}/alerts/{device}` family (SPEC §12 notifications)


def parse_publish_topic(topic: str) -> DeviceTopic | None:
    """The device family a topic name belongs to, or None when it is none of them."""
    if (out := _after(topic, _OUT)) is not None:
        prefix, rest = out
        parts = rest.split("/")
        if len(parts) == 3 and parts[1] == "properties" and parts[2]:
            return DeviceTopic(Family.PROPERTY, parts[0], parts[2], prefix)
        if len(parts) == 2 and parts[1] == "json":
            return DeviceTopic(Family.FEED, parts[0], prefix=prefix)
        return None
    plug_id, sep, channel = topic.partition(_CHANNEL)
    if sep and plug_id and "/" not in plug_id and channel:
        return DeviceTopic(Family.CHANNEL, plug_id, channel)
    return None


def provisioning_prefix(topic: str) -> str | None:
    """The prefix of a provisioning request topic (`connio/provisions`), or None."""
    for prefix in DEVICE_PREFIXES:
        if topic == prefix + _PROVISIONS:
            return prefix
    return None


def provisioning_answer_topic(client_id: str, prefix: str) -> str:
    """Where the answer to a client's provisioning request goes."""
    return f"{prefix}{_PROVISIONS}/{client_id}"


def is_commands_filter(topic_filter: str) -> bool:
    """Whether a filter is spelled in the commands family, under either prefix (valid or not)."""
    return _after(topic_filter, _IN) is not None


def parse_subscription(topic_filter: str) -> DeviceFilter | None:
    """The device family a topic filter asks for, or None when it is none of them.

    Commands: `csipio/data/in/devices/{id}/properties/…` or `…/{id}/#` (or `connio/…`);
    records: `{plug or +}/data/{mask}` with a valid channel mask; provisioning answers:
    `connio/provisions/{client id}` (no wildcard); device mirrors: `parse_mirror_filter`.
    """
    if (answers := _after(topic_filter, _PROVISIONS + "/")) is not None:
        client_id = answers[1]
        if not client_id or "+" in client_id or "#" in client_id or "/" in client_id:
            return None
        return DeviceFilter(Family.PROVISIONS, None, client_id=client_id)
    if (commands := _after(topic_filter, _IN)) is not None:
        rest = commands[1].split("/")
        if len(rest) < 2 or rest[1] not in ("properties", "#"):
            return None
        return DeviceFilter(Family.COMMANDS, None if rest[0] == "+" else rest[0])
    if (mirror := parse_mirror_filter(topic_filter)) is not None:
        return DeviceFilter(Family.MIRROR, None, mirror=mirror)
    plug_part, sep, mask = topic_filter.partition(_CHANNEL)
    if not sep or not mask or "/" in plug_part or "#" in plug_part:
        return None
    try:
        validate_mask(mask)
    except BadChannel:
        return None
    return DeviceFilter(Family.CHANNEL, None if plug_part == "+" else plug_part, mask)


def command_topic(plug_id: str, prop: str, prefix: str = DEVICE_PREFIX) -> str:
    """The topic a command for a plug's property is delivered on (names lowercase in topics)."""
    return f"{prefix}{_IN}{plug_id}/properties/{prop.lower()}"


def channel_topic(plug_id: str, channel: str) -> str:
    """The topic a live record of a plug's channel is delivered on."""
    return f"{plug_id}{_CHANNEL}{channel}"


# --- device mirroring (SPEC §13) -------------------------------------------------------------

_DEVICE = "{device}"
_APP = "{app}"
# The levels after `{account}` of each mirror family, up to the property's name (which may be
# a channel of several levels).
_MIRROR_SHAPES = {
    "devices": ("devices", _DEVICE, "properties"),
    "apps": ("apps", _APP, "devices", _DEVICE, "properties"),
}


def parse_mirror_filter(topic_filter: str) -> MirrorFilter | None:
    """The device mirror a valid topic filter asks for, or None when it is no mirror filter.

    `{account}/devices/{device or +}/properties/{name, + or #}` and
    `{account}/apps/{app or +}/devices/{device or +}/properties/{…}`, with a `#` allowed from
    the app or device level on (`{account}/apps/{app}/devices/#`, as Connio documents it); and
    `{account}/alerts/{device, + or #}`, where alert notifications go (SPEC §12). The account is
    named (no wildcard) and every level is lower case, as Connio's mirror topics are.
    """
    levels = topic_filter.split("/")
    if len(levels) < 3 or levels[0] in ("", "+", "#") or topic_filter != topic_filter.lower():
        return None
    if levels[1] == "alerts":  # `{account}/alerts/{device, + or #}`: one level, no more
        device = levels[2]
        if len(levels) != 3 or not device or (device not in ("+", "#") and ("+" in device or "#" in device)):
            return None
        return MirrorFilter(levels[0], False, None, None if device in ("+", "#") else device, alerts=True)
    shape = _MIRROR_SHAPES.get(levels[1])
    if shape is None:
        return None
    named: dict[str, str | None] = {_APP: None, _DEVICE: None}
    for index, expected in enumerate(shape, start=1):
        if index >= len(levels):
            return None  # ends above the properties: no mirror topic has so few levels
        level = levels[index]
        if level == "#":
            if index == 1:
                return None  # `{account}/#`: both families at once, no
            break
        if expected in named:
            named[expected] = None if level == "+" else level
        elif level != expected:
            return None
    else:
        if len(levels) == len(shape) + 1:
            return None  # `…/properties` alone: no property
    return MirrorFilter(levels[0], levels[1] == "apps", named[_APP], named[_DEVICE])


def mirror_device_topic(account: str, device: str, prop: str) -> str:
    """Where a device's property is mirrored (lower case, as Connio's)."""
    return f"{account}/devices/{device}/properties/{prop}".lower()


def alerts_topic(account: str, device: str) -> str:
    """Where an alert's `mqtt` notification for a device goes on the platform's own broker."""
    return f"{account}/alerts/{device}".lower()


def mirror_app_topic(account: str, app: str, device: str, prop: str) -> str:
    """Where a property of a device plugged into `app` is mirrored for that app."""
    return f"{account}/apps/{app}/devices/{device}/properties/{prop}".lower()
