"""Identifiers of the platform: OIDs and the prefixed ids of SPEC §3."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process_random = os.urandom(5)

OID_RE = re.compile(r"^[0-9a-f]{24}$")


def _oid_prefix(seconds: int) -> str:
    """The first 18 hex digits of an OID: 4-byte seconds and this process's 5 random bytes."""
    return (seconds & 0xFFFFFFFF).to_bytes(4, "big").hex() + _process_random.hex()


def _oid_with(prefix: str) -> str:
    """An OID: the prefix and the next value of the 3-byte counter."""
    return f"{prefix}{next(_counter) & 0xFFFFFF:06x}"


def new_oid(at_ms: int | None = None) -> str:
    """A 24-hex-digit OID: 4-byte seconds, 5 random bytes per process, 3-byte counter.

    Ordered by creation time like a MongoDB ObjectId, which clients of the channel dialect
    compare with `before`/`after`.
    """
    seconds = (at_ms // 1000) if at_ms is not None else int(time.time())
    return _oid_with(_oid_prefix(seconds))


def new_oids(count: int) -> list[str]:
    """`count` OIDs of this second, as `new_oid` makes them one by one."""
    prefix = _oid_prefix(int(time.time()))
    return [_oid_with(prefix) for _ in range(count)]


def oid_seconds(oid: str) -> int:
    return int(oid[:8], 16)


def is_oid(value: object) -> bool:
    return isinstance(value, str) and bool(OID_RE.match(value))


def new_account_id() -> str:
    return "com-" + secrets.token_hex(12)


PLUG_ID_PREFIX = "dev-"


def new_plug_id() -> str:
    return PLUG_ID_PREFIX + secrets.token_hex(12)


def is_plug_id(value: str) -> bool:
    """Whether a reference is spelled as a plug id (rather than a name or hwid)."""
    return value.startswith(PLUG_ID_PREFIX)


def new_template_id() -> str:
    return "mod-" + secrets.token_hex(12)


def new_key_id() -> str:
    # `_key_` + 24 chars (SPEC §3); hex keeps them URL- and MQTT-username-safe.
    return "_key_" + secrets.token_hex(12)


def new_property_id() -> str:
    return "_prp_" + secrets.token_hex(12)


def new_profile_id() -> str:
    return "_dpf_" + secrets.token_hex(12)


def new_app_profile_id() -> str:
    return "_apf_" + secrets.token_hex(12)


def is_profile_id(value: str) -> bool:
    """Whether a reference is spelled as a device or app profile id (rather than a name)."""
    return value.startswith(("_dpf_", "_apf_"))


def new_connector_id() -> str:
    return "_dcn_" + secrets.token_hex(12)


def new_user_id() -> str:
    return "_usr_" + secrets.token_hex(12)


def new_secret() -> str:
    return secrets.token_hex(16)


def new_alert_id() -> str:
    return "_alr_" + secrets.token_hex(12)


def new_incident_id() -> str:
    return "_inc_" + secrets.token_hex(12)
