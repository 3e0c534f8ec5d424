"""The property dialect's write bodies (SPEC §6) translated into the write service's `PointIn`s.

Two bodies are understood:

- a **Data Feed** `{"dps": [{"t", "v", "prop"?, "tt"?}, …], "t"?, "prop"?}`;
- a **values object** `{"prop": value, …}` (`POST data/devices/{ref}`), every value at server time.

A malformed body (not an object, `dps` not a list) is a `BadFeed` (400), a feed over
`MAX_BATCH` points a `BadFeed` (413). A malformed *point* is not refused here: it is handed to
the write service with the offending field as it came (no `v` → `data=MISSING`, a bad `t` or
`tt` → an unparsable `at`), so the service rejects it, counts it in the receipt and writes the
cause to the device log — one place for every rejection.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from data.services import MISSING, PointIn
from plugboard.parsers import is_json_number
from plugboard.timestamps import BadTimestamp, parse_timestamp


class BadFeed(Exception):
    """A body that is not a feed at all; `status` is what the dialect answers (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_size(count: int) -> None:
    limit = settings.PLUGBOARD["MAX_BATCH"]
    if count > limit:
        raise BadFeed(f"a feed holds at most {limit} data points, this one {count}", status=413)


def feed_points(*, body: Any, device_id: str, prop: str | None, now: int) -> list[PointIn]:
    """The points of a Data Feed aimed at `device_id`.

    A point's own `prop` wins over the feed's `prop`, which wins over `prop` (the property named
    by the URL, if any). A point without `t` takes the feed's `t` plus its own `tt` (ms), else
    the server time (`now` plus `tt`). A point's `expire_at` (a timestamp) or `ttl` (seconds
    from now), else the feed's, sets its expiry (an extension of the dialect: the channel
    dialect's two fields).
    """
    if not isinstance(body, dict):
        raise BadFeed("a Data Feed is a JSON object with a dps list")
    dps = body.get("dps")
    if not isinstance(dps, list):
        raise BadFeed("dps must be a list of data points")
    _check_size(len(dps))
    feed_prop = body.get("prop") if body.get("prop") is not None else prop
    base = body.get("t")
    base_ms: int | None = None
    base_bad = False
    if base is not None:
        try:
            base_ms = parse_timestamp(base, require_zone=True)
        except BadTimestamp:
            # Every point that relies on it carries the bad value on, to be rejected and logged.
            base_bad = True
    points = []
    for dp in dps:
        if not isinstance(dp, dict):
            points.append(PointIn(channel=feed_prop, data=MISSING, of=device_id))
            continue
        channel = dp.get("prop")
        if channel is None:
            channel = feed_prop
        at = dp.get("t")
        if at is None:
            tt = dp.get("tt")
            if tt is None:
                at = base
            elif not is_json_number(tt):
                at = {"tt": tt}  # unparsable on purpose: the service rejects and logs it
            elif base_bad:
                at = base
            else:
                at = (base_ms if base_ms is not None else now) + int(tt)
        # A point's expiry (`expire_at`, else `ttl`) wins over the feed's; the write service
        # validates them and applies `expire_at` over `ttl`, as for the channel dialect's records.
        expiry = dp if "ttl" in dp or "expire_at" in dp else body
        points.append(
            PointIn(
                channel=channel,
                data=dp.get("v", MISSING),
                at=at,
                of=device_id,
                ttl=expiry.get("ttl"),
                expire_at=expiry.get("expire_at"),
            )
        )
    return points


def values_points(*, body: Any, device_id: str) -> list[PointIn]:
    """`{"prop": value, …}`: one point per property, all at server time."""
    if not isinstance(body, dict):
        raise BadFeed('the body must be a JSON object: {"property": value, …} or a Data Feed')
    _check_size(len(body))
    return [PointIn(channel=name, data=value, of=device_id) for name, value in body.items()]


def body_points(*, body: Any, device_id: str, now: int) -> list[PointIn]:
    """The body of `POST data/devices/{ref}`: a Data Feed when it holds `dps`, else a values
    object (a property cannot be named `dps` through this form)."""
    if isinstance(body, dict) and "dps" in body:
        return feed_points(body=body, device_id=device_id, prop=None, now=now)
    return values_points(body=body, device_id=device_id)
