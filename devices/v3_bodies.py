"""What the profile views still read by hand (SPEC §6): `refuse_unknown`; every other body is a
declared shape (`devices.shapes`)."""

from __future__ import annotations

from typing import Any

from devices.shapes.base import READ_ONLY, body_object
from plugboard.errors import ApiError

__all__ = ["body_object", "refuse_unknown"]


def refuse_unknown(body: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known - READ_ONLY)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
