"""Limits on callers that every transport shares (SPEC §3).

- Failed authentications are counted for a minute from the first failure, by what can be
  guessed. An account password (or an enrollment or console sign-in, which name no key) can be:
  its attempts are checked before the password is, per (email or plug id, address) —
  AUTH_FAILURES_PER_MINUTE — and, with the higher ADDRESS_FAILURES_PER_MINUTE, per address,
  counting only such attempts. A key's secret (a device key, which is a plug's auth; a user or
  API client key: 128 random bits, verified by a keyed digest) cannot be: it is verified first,
  and a right one is always accepted, whatever failed before from its address, even with its
  own id; wrong ones count per (key or plug id, address) only, and past AUTH_FAILURES_PER_MINUTE
  are answered 429 (MQTT: CONNACK 5) instead of 401. So a valid key behind a NAT keeps working
  while someone there hammers passwords or made-up emails, or a neighbour's key id.
- An API key's `rateLimit` is requests per calendar minute (UTC), counted per key. Over MQTT
  the CONNECT and every PUBLISH of a connection using the key are its requests.
- An account's points are limited per calendar second (ACCOUNT_POINTS_PER_SECOND, 0: no
  limit; ACCOUNT_POINTS_PER_SECOND_OVERRIDES for single accounts), counted over every process
  and transport. HTTP writes past it get 429 with Retry-After; an MQTT connection is slowed
  (its next read waits for the next second) and, over the limit MQTT_LIMIT_STRIKES seconds in
  a row, closed. MQTT counts in the connection and adds to the account's counter in chunks of
  a twentieth of the limit (`Meter`): no Redis round trip per message, so the account may
  overshoot by up to a chunk per connection.

Addresses: behind a load balancer listed in PLUGBOARD_TRUSTED_PROXIES, the client's address is the one
the balancer reports (X-Forwarded-For over HTTP and WebSocket; the PROXY protocol over MQTT
TCP, read by its transport), so the per-address budgets count each client, not the balancer.

Counts live in the cache (Redis in production, so every process sees them; local memory on the
embedded default). The cache degrades rather than fails (`plugboard.cache`): while Redis is
down nothing is counted and nothing is refused.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
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
    """The (credential, address) counter and the address counter of password attempts."""
    return f"authfail:{address}|{_credential_part(credential)}", f"authfail:{address}"


def _key_failure_key(address: str, credential: str) -> str:
    """The (key or plug id, address) counter of wrong key secrets (counted apart from passwords)."""
    return f"keyfail:{address}|{_credential_part(credential)}"


def _count(key: str, timeout: int, delta: int = 1) -> int:
    """Add `delta` to a counter that expires `timeout` seconds after it was created."""
    if cache.add(key, delta, timeout):
        return delta
    try:
        return cache.incr(key, delta)
    except ValueError:  # expired between the two calls (or the cache is unavailable)
        cache.set(key, delta, timeout)
        return delta


def check_failure_budget(address: str, credential: str | None = None) -> None:
    """Raise TooManyFailures if password attempts of `credential` from `address`, or those of
    `address` itself, are over budget. Called before a password is checked; never for a key
    secret (`record_key_failure`).

    `credential` is what names the caller (an email, a plug id); None for attempts that carry
    none (an enrollment, a console sign-in)."""
    pair, whole = _failure_keys(address, credential)
    counts = cache.get_many([pair, whole])
    limits = settings.PLUGBOARD
    if (counts.get(pair) or 0) >= limits["AUTH_FAILURES_PER_MINUTE"] or (counts.get(whole) or 0) >= limits[
        "ADDRESS_FAILURES_PER_MINUTE"
    ]:
        raise TooManyFailures(wait=FAILURE_WINDOW)


def record_failure(address: str, credential: str | None = None) -> None:
    """Count a failed password attempt of `credential` from `address`."""
    for key in _failure_keys(address, credential):
        _count(key, FAILURE_WINDOW)


def record_key_failure(address: str, credential: str) -> bool:
    """Count a wrong key secret presented for `credential` (a key or plug id) from `address`;
    whether that pair is now past its budget (then the answer is 429 / CONNACK 5, not 401)."""
    failures = _count(_key_failure_key(address, credential), FAILURE_WINDOW)
    return failures > settings.PLUGBOARD["AUTH_FAILURES_PER_MINUTE"]


def _key_counter(principal: Principal, window: int) -> str:
    return f"keyrate:{principal.key_id or principal.credential}:{window}"


def check_request_rate(principal: Principal) -> None:
    """Count a request of a verified caller; raise RateLimited past its key's `rateLimit`."""
    if principal.rate_limit <= 0:
        return
    now = time.time()
    window = int(now // RATE_WINDOW)
    if _count(_key_counter(principal, window), RATE_WINDOW + 1) > principal.rate_limit:
        raise RateLimited(wait=max(1, math.ceil((window + 1) * RATE_WINDOW - now)))


# --- an account's points per second ---------------------------------------------------------

POINTS_WINDOW = 1  # an account's publish limit is points per this many seconds


class PublishLimited(exceptions.Throttled):
    default_detail = "points per second of this account exceeded, retry later"


def account_points_limit(account_id: str) -> int:
    """The points per second `account_id` may write (0: no limit)."""
    default = settings.PLUGBOARD["ACCOUNT_POINTS_PER_SECOND"]
    return int(settings.ACCOUNT_POINTS_PER_SECOND_OVERRIDES.get(account_id, default))


def check_account_points(account_id: str, count: int) -> None:
    """Count `count` points an HTTP request of the account writes; raise PublishLimited past
    the account's limit (nothing of the request is written then)."""
    limit = account_points_limit(account_id)
    if limit <= 0 or count <= 0:
        return
    now = time.time()
    window = int(now // POINTS_WINDOW)
    if _count(f"points:{account_id}:{window}", POINTS_WINDOW + 1, count) > limit:
        raise PublishLimited(wait=max(1, math.ceil((window + 1) * POINTS_WINDOW - now)))


class Meter:
    """One MQTT connection's share of a shared counter (an account's points per second, a
    key's requests per minute): it counts here and adds to the shared counter once per chunk
    (a twentieth of the limit) or per window, so the hot path makes no Redis round trip per
    message. `take` answers how many seconds to wait before going on (0: go on)."""

    def __init__(self, limit: int, window_seconds: int, counter: Callable[[int], str]) -> None:
        self.limit = limit
        self.every = window_seconds
        self.counter = counter
        self.chunk = max(1, limit // 20)
        self.window = -1
        self.unreported = 0
        self.known = 0  # the shared count as of the last report
        self.over_windows = 0  # consecutive windows in which the limit was passed
        self._over_now = False

    async def take(self, count: int = 1) -> float:
        if self.limit <= 0:
            return 0.0
        now = time.time()
        window = int(now // self.every)
        if window != self.window:
            if self.window >= 0:
                self.over_windows = self.over_windows + 1 if self._over_now else 0
            self.window, self.unreported, self.known, self._over_now = window, 0, 0, False
        self.unreported += count
        if self.unreported >= self.chunk or self.known + self.unreported > self.limit:
            delta, self.unreported = self.unreported, 0
            key = self.counter(window)
            self.known = await sync_to_async(_count)(key, self.every + 1, delta)
        if self.known + self.unreported > self.limit:
            self._over_now = True
            return max(0.001, (window + 1) * self.every - now)
        return 0.0


def points_meter(account_id: str) -> Meter:
    """An MQTT connection's meter of its account's points per second."""
    return Meter(account_points_limit(account_id), POINTS_WINDOW, lambda w: f"points:{account_id}:{w}")


def request_meter(principal: Principal) -> Meter:
    """An MQTT connection's meter of its key's requests per minute (shared with HTTP)."""
    return Meter(principal.rate_limit, RATE_WINDOW, lambda w: _key_counter(principal, w))


@functools.cache
def _trusted_networks(
    configured: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in configured)


def is_trusted_proxy(address: str) -> bool:
    """Whether `address` is one of `PLUGBOARD_TRUSTED_PROXIES` (a load balancer's)."""
    configured = tuple(settings.PLUGBOARD_TRUSTED_PROXIES)
    if not configured:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks(configured))


def address_behind(peer: str, forwarded_for: str | None) -> str:
    """The client's address: `peer`, unless `peer` is a trusted proxy that forwarded the request;
    then the nearest address in `X-Forwarded-For` (read from the right) that is not itself a
    trusted proxy — what a client writes further left is its own claim, never taken."""
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed header: the proxy's own address counts
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


def client_address(request: Any) -> str:
    """The address failures of an HTTP request count against (behind a trusted load balancer,
    the client's, from `X-Forwarded-For`)."""
    return address_behind(
        request.META.get("REMOTE_ADDR") or "unknown", request.META.get("HTTP_X_FORWARDED_FOR")
    )
