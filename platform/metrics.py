"""Every Prometheus metric of the platform (SPEC §14), defined once, at the kernel's level, so
each app counts what it does without importing upward; `/metrics` renders them.

Several processes, one answer: with `PROMETHEUS_MULTIPROC_DIR` set (prometheus-client's own
multiprocess mode), every process — each `serve` worker, each Celery worker process — keeps its
counts in files of that directory and `/metrics`, whichever process answers it, adds them all up.
Behind SO_REUSEPORT a scrape lands on any worker, so one target per process would not work.
`serve --workers N` without the variable gives its workers `var/metrics` (PLUGBOARD_VAR_DIR);
Celery workers on the same machine must be given the same directory. Without it (the embedded
default, one process) the counts stay in memory.

Counts of processes that ended stay in the directory (a counter never goes down while the
platform runs); their live gauges (MQTT connections) are dropped when they end. At start,
`serve` and the Celery worker remove the files of processes that no longer run: the directory
is shared, so the one starting must not take the files of the other still running.

Values computed at scrape time (commands by state, the outbox) come from collectors other apps
register with `scrape_collector_register`: one bounded query each, only when Prometheus asks.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_VARIABLE):  # an unlabelled metric writes its file as it is defined
    Path(os.environ[MULTIPROC_VARIABLE]).mkdir(parents=True, exist_ok=True)

# No `_created` series: a gauge per counter that no rule or dashboard here reads.
disable_created_metrics()

# The process's own metrics; in multiprocess mode only their definitions matter here (the values
# live in the directory's files and are read back from all processes at once).
REGISTRY = CollectorRegistry(auto_describe=True)

DIALECTS = ("channel", "property")
TRANSPORTS = ("http", "mqtt-ws", "mqtt-tcp", "console")
MQTT_TRANSPORTS = ("mqtt-ws", "mqtt-tcp")

POINTS_ACCEPTED = Counter(
    "plugboard_points_accepted",
    "Data points stored by the write service, by dialect and transport.",
    ["dialect", "transport"],
    registry=REGISTRY,
)
POINTS_REJECTED = Counter(
    "plugboard_points_rejected",
    "Data points the write service refused (invalid, not allowed, over a limit), by dialect and transport.",
    ["dialect", "transport"],
    registry=REGISTRY,
)
MQTT_CONNECTIONS = Gauge(
    "plugboard_mqtt_connections",
    "MQTT clients connected (CONNECT accepted), by transport.",
    ["transport"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
MQTT_MESSAGES_RECEIVED = Counter(
    "plugboard_mqtt_messages_received",
    "PUBLISH packets received from MQTT clients, by transport.",
    ["transport"],
    registry=REGISTRY,
)
MQTT_MESSAGES_SENT = Counter(
    "plugboard_mqtt_messages_sent",
    "PUBLISH packets sent to MQTT clients (records, commands, answers), by transport.",
    ["transport"],
    registry=REGISTRY,
)
PURGE_RUNS = Counter(
    "plugboard_purge_runs",
    "Runs of the expiry purge, by outcome (ok, failed).",
    ["outcome"],
    registry=REGISTRY,
)
PURGED_ROWS = Counter(
    "plugboard_purged_rows",
    "Rows the expiry purge removed, by table (points, journal, rollups, commands), and commands it marked"
    " expired (commands_expired).",
    ["what"],
    registry=REGISTRY,
)
PURGE_LAST_SUCCESS = Gauge(
    "plugboard_purge_last_success_timestamp_seconds",
    "When the expiry purge last finished without error (Unix time).",
    registry=REGISTRY,
    multiprocess_mode="max",
)
OUTBOUND_DELIVERED = Counter(
    "plugboard_outbound_delivered",
    "Outbox messages delivered, by kind (connector, mirror, notification).",
    ["kind"],
    registry=REGISTRY,
)
OUTBOUND_FAILURES = Counter(
    "plugboard_outbound_delivery_failures",
    "Failed delivery attempts of outbox batches (each retried later), by kind.",
    ["kind"],
    registry=REGISTRY,
)
OUTBOUND_DEAD = Counter(
    "plugboard_outbound_dead_lettered",
    "Outbox messages turned into dead letters (failing past their retention), by kind.",
    ["kind"],
    registry=REGISTRY,
)
# Buckets from 5 ms (a cached read) to 10 s (a 10,000-point batch on a loaded machine).
HTTP_REQUEST_DURATION = Histogram(
    "plugboard_http_request_duration_seconds",
    "HTTP request latency, by route pattern (not the raw path), method and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_duration_children: dict[tuple[str, str, int], Histogram] = {}


def http_request_timed(route: str | None, method: str, status: int, seconds: float) -> None:
    """One HTTP request's latency (the access log's middleware calls this for every request):
    `route` is the URL pattern that matched (None: none did), so the label values stay as few
    as the URL conf's routes, whatever paths clients send."""
    key = (route or "unmatched", method if method in HTTP_METHODS else "other", status // 100)
    child = _duration_children.get(key)
    if child is None:
        child = _duration_children[key] = HTTP_REQUEST_DURATION.labels(key[0], key[1], f"{key[2]}xx")
    child.observe(seconds)


class WriteCounts(Protocol):
    """What the points counter reads of a write (`data.services.WriteOutcome`)."""

    @property
    def source(self) -> str: ...

    @property
    def accepted_by_dialect(self) -> Mapping[str, int]: ...

    @property
    def rejected_by_dialect(self) -> Mapping[str, int]: ...


_points_children: dict[tuple[str, str], tuple[Counter, Counter]] = {}


def _points_child(dialect: str, transport: str) -> tuple[Counter, Counter]:
    children = _points_children.get((dialect, transport))
    if children is None:
        children = _points_children[(dialect, transport)] = (
            POINTS_ACCEPTED.labels(dialect, transport),
            POINTS_REJECTED.labels(dialect, transport),
        )
    return children


def points_counted(outcome: WriteCounts) -> None:
    """The write sink counting points (registered by the composition root): once the write
    commits, since a write rolled back stored nothing and answered neither way."""
    if not outcome.accepted_by_dialect and not outcome.rejected_by_dialect:
        return
    transaction.on_commit(lambda: _points_add(outcome))


def _points_add(outcome: WriteCounts) -> None:
    for dialect, count in outcome.accepted_by_dialect.items():
        if count:
            _points_child(dialect, outcome.source)[0].inc(count)
    for dialect, count in outcome.rejected_by_dialect.items():
        if count:
            _points_child(dialect, outcome.source)[1].inc(count)


class ScrapeCollector(Protocol):
    """Metrics computed when Prometheus asks (prometheus-client's custom collector)."""

    def collect(self) -> Iterable[Metric]: ...


_scrape_collectors: list[ScrapeCollector] = []


def scrape_collector_register(collector: ScrapeCollector) -> None:
    """Have `collector` asked at every scrape (an app registers it in its `ready()`)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def multiprocess_directory() -> Path | None:
    """The multiprocess directory, or None in one-process mode."""
    value = os.environ.get(MULTIPROC_VARIABLE)
    return Path(value) if value else None


class _Everything:
    """One scrape: the processes' counters (from the directory, or this process's memory), then
    the scrape-time collectors."""

    def collect(self) -> Iterable[Metric]:
        directory = multiprocess_directory()
        if directory is not None:
            yield from MultiProcessCollector(None, path=str(directory)).collect()
        else:
            yield from REGISTRY.collect()
        for collector in _scrape_collectors:
            yield from collector.collect()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())
    # Text format 0.0.4, which every Prometheus reads (the names need none of 1.0.0's escaping).
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


_FILE_PID = re.compile(r"_(\d+)\.db$")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def multiprocess_directory_prepare() -> None:
    """Create the multiprocess directory and remove the files of processes no longer running.

    Not all of them: `serve` and the Celery worker of a machine share it, and whichever starts
    second must keep the other's. Their counts go with them: Prometheus reads the drop as a
    counter reset, as it would had the process restarted."""
    directory = multiprocess_directory()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        match = _FILE_PID.search(path.name)
        if match and not _running(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):  # another process cleaned it meanwhile
                path.unlink()


def process_ended(pid: int) -> None:
    """Drop the live gauges of process `pid`, which ended (its MQTT connections with it)."""
    directory = multiprocess_directory()
    if directory is not None:
        mark_process_dead(pid, str(directory))
