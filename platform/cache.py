"""The shared cache (Redis) as a request may use it: an outage never raises (SPEC §11).

Everything the platform keeps in the cache can be lost without losing data: failure budgets and
request counts (an outage means no limit), the verified-master-password yes (an outage means
one more PBKDF2), live-reader marks (an outage means nobody is listening; the channel layer is
down too). So while Redis is unreachable the cache behaves as an empty cache that forgets every
write: `get` gives the default, `add` and `set` "succeed", `incr` finds no key (ValueError, as
for any missing key). Errors are logged at most once per LOG_EVERY seconds, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LOG_EVERY = 30.0  # seconds between two "cache unavailable" log lines of one process

T = TypeVar("T")

_last_logged = 0.0
_last_outage: float | None = None
_log_lock = threading.Lock()


def unavailable_within(seconds: float) -> bool:
    """Whether this process found the cache unavailable in the last `seconds` (what it wrote
    then, and what Redis held before a restart, is gone)."""
    return _last_outage is not None and time.monotonic() - _last_outage < seconds


def outage_logged(exc: BaseException, what: str) -> None:
    """Log a cache (or channel layer) outage, at most once per LOG_EVERY seconds per process."""
    global _last_logged, _last_outage
    now = time.monotonic()
    _last_outage = now
    with _log_lock:
        if now - _last_logged < LOG_EVERY:
            return
        _last_logged = now
    log.warning("%s unavailable, continuing without it: %s: %s", what, exc.__class__.__name__, exc)


def _degrading(call: Callable[[], T], fallback: T) -> T:
    try:
        return call()
    except (RedisError, OSError) as exc:
        outage_logged(exc, "cache")
        return fallback


class _OneClientPerPool(RedisCacheClient):
    """Django's client makes a `redis.Redis` (with its option dicts) for every call; one per
    connection pool serves them all (the client is thread-safe: each command takes a pooled
    connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]  # not in the stubs
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


class DegradingRedisCache(RedisCache):
    """Django's Redis cache, answering as an empty cache while Redis is unreachable."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _OneClientPerPool

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return _degrading(lambda: super(DegradingRedisCache, self).add(key, value, timeout, version), True)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return _degrading(lambda: super(DegradingRedisCache, self).get(key, default, version), default)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        _degrading(lambda: super(DegradingRedisCache, self).set(key, value, timeout, version), None)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return _degrading(lambda: super(DegradingRedisCache, self).touch(key, timeout, version), False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return _degrading(lambda: super(DegradingRedisCache, self).delete(key, version), False)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        return _degrading(lambda: super(DegradingRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return _degrading(lambda: super(DegradingRedisCache, self).has_key(key, version), False)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except (RedisError, OSError) as exc:
            outage_logged(exc, "cache")
            raise ValueError(f"Key '{key}' not found (cache unavailable)") from exc

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return _degrading(lambda: super(DegradingRedisCache, self).set_many(data, timeout, version), [])

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        keys = list(keys)
        _degrading(lambda: super(DegradingRedisCache, self).delete_many(keys, version), None)

    def clear(self) -> None:
        _degrading(lambda: super(DegradingRedisCache, self).clear(), None)
