"""The Celery app: broker is Redis when REDIS_URL is set; otherwise tasks run in-process.

The worker and beat log through the project's own logging (settings.LOGGING: one JSON object
per line, `plugboard.logs.JSONFormatter`) instead of Celery's plain format: a `setup_logging`
receiver makes Celery leave the loggers to it; the `--loglevel` given on the command line
still sets the level. Beat's schedule file lives under var/ (settings). With
PROMETHEUS_MULTIPROC_DIR set, the worker's processes count into it (plugboard.metrics).
"""

from __future__ import annotations

import copy
import logging
import logging.config
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import setup_logging, worker_init, worker_process_shutdown

from plugboard import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")

app = Celery("plugboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["data", "commands", "outbound", "alerts"])


@setup_logging.connect
def json_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """The worker's and beat's logging: settings.LOGGING at the command line's level."""
    from django.conf import settings

    config: dict[str, Any] = copy.deepcopy(settings.LOGGING)
    if loglevel:
        level = loglevel if isinstance(loglevel, str) else logging.getLevelName(loglevel)
        root: dict[str, Any] = dict(config.get("root") or {})
        config["root"] = {**root, "level": level}
    logging.config.dictConfig(config)


@worker_init.connect
def metrics_directory_prepare(**_: Any) -> None:
    """The worker counts (purge, outbound delivery) into PROMETHEUS_MULTIPROC_DIR, which the
    `serve` processes of its machine read for /metrics (plugboard.metrics)."""
    metrics.multiprocess_directory_prepare()


@worker_process_shutdown.connect
def metrics_process_ended(pid: int | None = None, **_: Any) -> None:
    metrics.process_ended(pid or os.getpid())


class Scheduler(PersistentScheduler):
    """Beat's scheduler (CELERY_BEAT_SCHEDULER): Celery's own, keeping its schedule file under
    var/ (CELERY_BEAT_SCHEDULE_FILENAME) and making that directory, which nothing else creates
    on PostgreSQL."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
