"""Limits on callers that every transport shares (SPEC §3): failed authentications.

Failures are counted in the cache (Redis in production, so every process sees them).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions


class TooManyFailures(exceptions.Throttled):
    default_detail = "too many failed authentication attempts, retry later"


def _failure_key(client: str) -> str:
    return f"authfail:{client}"


def check_failure_budget(client: str) -> None:
    if (cache.get(_failure_key(client)) or 0) >= settings.PLUGBOARD["AUTH_FAILURES_PER_MINUTE"]:
        raise TooManyFailures(wait=60)


def record_failure(client: str) -> None:
    key = _failure_key(client)
    if cache.add(key, 1, 60):
        return
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, 60)


def client_address(request: Any) -> str:
    """The address failures of an HTTP request count against."""
    return request.META.get("REMOTE_ADDR") or "unknown"
