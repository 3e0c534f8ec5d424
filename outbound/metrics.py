"""The outbox's metrics computed when Prometheus asks (registered with `plugboard.metrics`); its
delivery counters are incremented where batches are delivered (`outbound.outbox`)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from outbound.selectors import outbox_backlog
from plugboard.timestamps import now_ms

# Past this many messages the gauges stay at it: the counts are bounded scans.
COUNT_CAP = 100_000


class OutboxCollector:
    """`plugboard_outbound_pending`, `…_oldest_pending_age_seconds` (the lag) and
    `…_dead_letters`: one query per scrape."""

    def collect(self) -> Iterable[Metric]:
        backlog = outbox_backlog(cap=COUNT_CAP)
        age = (
            0.0 if backlog.oldest_created_at is None else max(0, now_ms() - backlog.oldest_created_at) / 1000
        )
        yield GaugeMetricFamily(
            "plugboard_outbound_pending",
            f"Outbox messages waiting for delivery (retries included), counted up to {COUNT_CAP}.",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "plugboard_outbound_oldest_pending_age_seconds",
            "Age of the oldest outbox message waiting for delivery (0: none waits): the outbound lag.",
            value=age,
        )
        yield GaugeMetricFamily(
            "plugboard_outbound_dead_letters",
            f"Dead letters in the outbox (waiting for a replay or a discard), counted up to {COUNT_CAP}.",
            value=backlog.dead,
        )
