"""Times the server gives (SPEC §4 rule 1): never the same millisecond twice for one series.

A record or data point without a time of its own is stamped here, by the write service alone,
whatever path it came by (both HTTP dialects, both MQTT transports, the console). Within one
series each stamp is later than the one before it, in the order the points reach the service,
so an array of buffered values without `at`, a Data Feed's points without `t` and one MQTT
connection's burst (a group commit) all store every value, in order, under distinct OIDs. The
clock remembers the last stamp of each series across requests of this process, so two requests
in the same millisecond do not collide either; it forgets a series once the wall clock has passed
its last stamp, which bounds its memory by the series written within the last millisecond or so.

Two processes may still stamp the same millisecond for one series (nothing shared is asked on
the hot path): that is the ordinary "same `at` replaces the value" rule between two writers.
A series stamped faster than 1,000 points a second runs ahead of the wall clock by the excess,
and falls back to it as soon as the rate drops.
"""

from __future__ import annotations

import threading

# (account id, publisher id, channel folded to lower case): names differing only in case are one
# series to the property dialect (docs/data-model.md), so they share one clock.
SeriesKey = tuple[str, str, str]

# Above this many remembered series, the ones whose last stamp the wall clock has passed are
# dropped (they can no longer collide): a sweep at most every this many new series.
_SWEEP_ABOVE = 10_000


class SeriesClock:
    """The last server-given time of each recently stamped series of this process."""

    def __init__(self) -> None:
        self._last: dict[SeriesKey, int] = {}
        self._lock = threading.Lock()  # HTTP worker threads and the MQTT group-commit thread
        self._sweep_above = _SWEEP_ABOVE

    def stamp(self, key: SeriesKey, now: int) -> int:
        """`now`, or one millisecond after the series' previous stamp if that is not earlier."""
        with self._lock:
            last = self._last.get(key)
            at = now if last is None or last < now else last + 1
            self._last[key] = at
            if len(self._last) > self._sweep_above:
                self._last = {k: v for k, v in self._last.items() if v >= now}
                # Many series stamped within the same millisecond: sweep again only once twice as
                # many are remembered, so a sweep costs O(1) per stamp on average.
                self._sweep_above = max(_SWEEP_ABOVE, 2 * len(self._last))
            return at


SERVER_TIMES = SeriesClock()
