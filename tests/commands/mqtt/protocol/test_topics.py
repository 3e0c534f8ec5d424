"""The device topic grammar (SPEC §7): one set of rules under both prefixes."""

from __future__ import annotations

import pytest

from commands.mqtt.protocol.topics import (
    DeviceFilter,
    DeviceTopic,
    Family,
    command_topic,
    is_commands_filter,
    parse_publish_topic,
    parse_subscription,
)

PLUG = "dev-0123456789abcdef01234567"


@pytest.mark.parametrize("prefix", ["csipio/", "connio/"])
def test_both_prefixes_parse_the_same_families(prefix: str) -> None:
    assert parse_publish_topic(f"{prefix}data/out/devices/{PLUG}/properties/temp") == DeviceTopic(
        Family.PROPERTY, PLUG, "temp", prefix
    )
    assert parse_publish_topic(f"{prefix}data/out/devices/{PLUG}/json") == DeviceTopic(
        Family.FEED, PLUG, prefix=prefix
    )
    assert parse_publish_topic(f"{prefix}data/out/devices/{PLUG}/properties") is None
    assert parse_publish_topic(f"{prefix}data/out/devices/{PLUG}/properties/a/b") is None
    assert is_commands_filter(f"{prefix}data/in/devices/{PLUG}/properties/#")
    assert parse_subscription(f"{prefix}data/in/devices/{PLUG}/properties/#") == DeviceFilter(
        Family.COMMANDS, PLUG
    )
    assert parse_subscription(f"{prefix}data/in/devices/{PLUG}/#") == DeviceFilter(Family.COMMANDS, PLUG)
    assert parse_subscription(f"{prefix}data/in/devices/{PLUG}/other") is None
    assert command_topic(PLUG, "SetPoint", prefix) == f"{prefix}data/in/devices/{PLUG}/properties/setpoint"


def test_other_spellings_are_no_device_family() -> None:
    for topic in (
        "csipio/data/out/devices/x",
        "connioX/data/out/devices/p/json",
        "Connio/data/out/devices/p/json",
    ):
        assert parse_publish_topic(topic) is None or parse_publish_topic(topic).family is Family.CHANNEL
    assert not is_commands_filter("connio/data/in/device/p/#")
    assert command_topic(PLUG, "t") == f"csipio/data/in/devices/{PLUG}/properties/t"
