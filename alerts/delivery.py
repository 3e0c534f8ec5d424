"""How an alert's notifications leave the platform: the durable outbox's deliverers
(`outbound.outbox.deliverer_register`, registered in `alerts.apps`) for the actions that reach
outside, one message per batch so that each notification has its own delivery id, the same on
every retry.

- `alert.webhook`: the notification's JSON body POSTed (or PUT) to its URL by
  `outbound.http.webhook_send` (signed `X-Plugboard-Signature: sha256=<hex HMAC-SHA256 of the
  body>` with its `signatureKey`, `X-Plugboard-Delivery`, no redirects); anything but a 2xx is
  retried.
- `alert.email`: one message through Django's SMTP backend (`EMAIL_URL`); an SMTP error or an
  unreachable server is retried.

A webhook whose host resolves to a loopback, private or link-local address is refused on save
and before each call (`outbound.network`), unless the operator allows that network
(`PLUGBOARD_OUTBOUND_ALLOW_NETWORKS`), as for data connectors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage, get_connection

from outbound.http import webhook_send
from outbound.network import TargetRefused, target_resolve
from outbound.outbox import Message

WEBHOOK = "alert.webhook"
EMAIL = "alert.email"


def target_refusal(url: str) -> str | None:
    """Why the platform may not call `url` (the data connectors' rule, `outbound.network`), or
    None."""
    try:
        target_resolve(url, schemes=("http", "https"))
    except TargetRefused as exc:
        return str(exc)
    return None


def webhook_deliver(target: str, messages: Sequence[Message]) -> None:
    for message in messages:
        payload: dict[str, Any] = message.payload
        webhook_send(
            url=payload["url"],
            body=json.dumps(payload["body"], separators=(",", ":")).encode(),
            delivery_id=message.delivery_id,
            signature_key=payload.get("signatureKey") or "",
            method=payload.get("method") or "POST",
        )


def email_deliver(target: str, messages: Sequence[Message]) -> None:
    with get_connection(fail_silently=False) as connection:
        for message in messages:
            payload = message.payload
            email = EmailMessage(
                subject=payload.get("subject") or payload["body"]["alert"],
                body=payload["body"]["message"],
                to=[target],
                headers={"X-Plugboard-Delivery": message.delivery_id},
                connection=connection,
            )
            email.send()
