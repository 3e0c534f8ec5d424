"""The commands' metrics computed when Prometheus asks (registered with `plugboard.metrics`)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from commands.selectors import commands_by_state

# Past this many commands in one state the gauge stays at it: the count is a bounded scan.
COUNT_CAP = 10_000


class CommandsCollector:
    """`plugboard_commands{state}`: commands in each state, one query per scrape."""

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "plugboard_commands",
            f"Commands by state (pending, sent, acked, expired), each counted up to {COUNT_CAP}.",
            labels=["state"],
        )
        for state, count in commands_by_state(cap=COUNT_CAP).items():
            family.add_metric([state], count)
        yield family
