"""How an alert's notifications leave the platform: the durable outbox's deliverers
(`outbound.outbox.deliverer_register`, registered in `alerts.apps`) for the actions that reach
outside, one message per batch so that each notification has its own delivery id, the same on
every retry.

- `alert.webhook`: the notification's JSON body POSTed (or PUT) to its URL, signed
  `X-Plugboard-Signature: sha256=<hex HMAC-SHA256 of the body>` with its `signatureKey`, with
  `X-Plugboard-Delivery`; any answer but a 2xx is retried.
- `alert.email`: one message through Django's SMTP backend (`EMAIL_URL`); an SMTP error or an
  unreachable server is retried.

A target whose host resolves to a loopback, private or link-local address is refused (and
retried, then kept as a dead letter) unless the operator allows that network
(`PLUGBOARD_OUTBOUND_ALLOW_NETWORKS`), as for data connectors.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from outbound.outbox import Message

WEBHOOK = "alert.webhook"
EMAIL = "alert.email"
SIGNATURE_HEADER = "X-Plugboard-Signature"
DELIVERY_HEADER = "X-Plugboard-Delivery"


class NotificationFailed(Exception):
    """The receiver did not take the notification; the outbox retries it."""


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    allowed = settings.PLUGBOARD_OUTBOUND_ALLOW_NETWORKS
    if any(ip in ipaddress.ip_network(n, strict=False) for n in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def target_refusal(url: str) -> str | None:
    """Why the platform may not call `url` (a host that does not resolve, or resolves into a
    network the operator did not allow), or None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        return f"host {host} does not resolve ({exc})"
    refused = sorted({str(info[4][0]) for info in infos if not _address_allowed(str(info[4][0]))})
    if refused:
        return (
            f"host {host} resolves to {', '.join(refused)}: not a public address "
            "(PLUGBOARD_OUTBOUND_ALLOW_NETWORKS allows a network)"
        )
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is a failure: a redirect would lead past the network rule."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def signature(key: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`: what a receiver recomputes to trust the body."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def webhook_deliver(target: str, messages: Sequence[Message]) -> None:
    for message in messages:
        payload: dict[str, Any] = message.payload
        url = payload["url"]
        if refusal := target_refusal(url):
            raise NotificationFailed(refusal)
        body = json.dumps(payload["body"], separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: message.delivery_id}
        if payload.get("signatureKey"):
            headers[SIGNATURE_HEADER] = signature(payload["signatureKey"], body)
        # http(s) only: the definition's validation refuses any other scheme.
        method = payload.get("method") or "POST"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with _OPENER.open(request, timeout=settings.PLUGBOARD_OUTBOUND_TIMEOUT) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise NotificationFailed(f"{urlsplit(url).hostname} answered {exc.code}") from None
        except OSError as exc:
            raise NotificationFailed(f"{urlsplit(url).hostname}: {exc}") from None


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
