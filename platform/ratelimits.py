"""Limits on callers that every transport shares (SPEC §3).

- Failed authentications are counted per (credential, address) and per address, each for a
  minute from the first failure: AUTH_FAILURES_PER_MINUTE for one credential from one address,
  the higher ADDRESS_FAILURES_PER_MINUTE for everything from one address — so one bad client
  behind a NAT or a gateway does not lock out its neighbours.
- An API key's `rateLimit` is requests per calendar minute (UTC), counted per key.

Counts live in the cache (Redis in production, so every process sees them; local memory on the
embedded default). The cache degrades rather than fails (`plugboard.cache`): while Redis is
down nothing is counted and nothing is refused.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions

from plugboard.principals import Principal

FAILURE_WINDOW = 60  # seconds a failure counts for
RATE_WINDOW = 60  # an API key's rateLimit is per this many seconds


class TooManyFailures(exceptions.Throttled):
    default_detail = "too many failed authentication attempts, retry later"


class RateLimited(exceptions.Throttled):
    default_detail = "request rate limit of this API key exceeded, retry later"


def _credential_part(credential: str | None) -> str:
    # A digest: any presented text (spaces, control characters, any length) makes a valid key.
    return hashlib.sha256((credential or "").lower().encode()).hexdigest()[:32]


def _failure_keys(address: str, credential: str | None) -> tuple[str, str]:
    """The (credential, address) counter and the address counter."""
    return f"authfail:{address}|{_credential_part(credential)}", f"authfail:{address}"


def _count(key: str, timeout: int) -> int:
    """Add one to a counter that expires `timeout` seconds after it was created."""
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls (or the cache is unavailable)
        cache.set(key, 1, timeout)
        return 1


def check_failure_budget(address: str, credential: str | None = None) -> None:
    """Raise TooManyFailures if `credential` from `address`, or `address` itself, is over budget.

    `credential` is what names the caller (an email, a plug id, a key id); None for attempts
    that carry none (an enrollment)."""
    pair, whole = _failure_keys(address, credential)
    counts = cache.get_many([pair, whole])
    limits = settings.PLUGBOARD
    if (counts.get(pair) or 0) >= limits["AUTH_FAILURES_PER_MINUTE"] or (counts.get(whole) or 0) >= limits[
        "ADDRESS_FAILURES_PER_MINUTE"
    ]:
        raise TooManyFailures(wait=FAILURE_WINDOW)


def record_failure(address: str, credential: str | None = None) -> None:
    """Count a failed authentication of `credential` from `address`."""
    for key in _failure_keys(address, credential):
        _count(key, FAILURE_WINDOW)


def check_request_rate(principal: Principal) -> None:
    """Count a request of a verified caller; raise RateLimited past its key's `rateLimit`."""
    if principal.rate_limit <= 0:
        return
    now = time.time()
    window = int(now // RATE_WINDOW)
    ident = principal.key_id or principal.credential
    if _count(f"keyrate:{ident}:{window}", RATE_WINDOW + 1) > principal.rate_limit:
        raise RateLimited(wait=max(1, math.ceil((window + 1) * RATE_WINDOW - now)))


def client_address(request: Any) -> str:
    """The address failures of an HTTP request count against."""
    return request.META.get("REMOTE_ADDR") or "unknown"
