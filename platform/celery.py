"""The Celery app: broker is Redis when REDIS_URL is set; otherwise tasks run in-process."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")

app = Celery("plugboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["data", "commands"])
