"""The Celery app of outbound worker tests: the project's, plus a deliverer of kind
`test-http` that POSTs each batch as JSON to its target URL (a receiver of the test's)."""

from __future__ import annotations

from collections.abc import Sequence

import django
import httpx

from plugboard.celery import app

django.setup()

from outbound.outbox import Message, deliverer_register  # noqa: E402 - after setup

__all__ = ["app"]


def _post(target: str, messages: Sequence[Message]) -> None:
    body = [{"key": m.key, "payload": m.payload} for m in messages]
    response = httpx.post(target, json=body, headers={"X-Delivery": messages[0].delivery_id}, timeout=5)
    response.raise_for_status()


deliverer_register("test-http", _post, batch=20)
