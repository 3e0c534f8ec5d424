"""Webhooks (SPEC §12, §13): a JSON body sent to an account's URL, signed
`X-Plugboard-Signature: sha256=<hex HMAC-SHA256 of the body>` with the target's signature key,
carrying the batch's `X-Plugboard-Delivery` id (the same on every retry).

The connection goes to the very address the network rule checked just before (the URL's host is
resolved once, and the request is sent to that address with the original `Host` and TLS server
name), so a DNS answer changed in between cannot lead it into a refused network. Redirects are
not followed (a 3xx is a failure), and every step is bounded by `PLUGBOARD_OUTBOUND_TIMEOUT`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping

import httpx
from django.conf import settings

from outbound.network import target_resolve

SIGNATURE_HEADER = "X-Plugboard-Signature"
DELIVERY_HEADER = "X-Plugboard-Delivery"

_client: httpx.Client | None = None
_client_lock = threading.Lock()


class WebhookFailed(Exception):
    """The receiver did not take the request (its status, a redirect, or no answer in time)."""


def webhook_signature(key: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body with key>`: what a receiver recomputes to trust a body."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _http() -> httpx.Client:
    """One client per process: its pool keeps connections to receivers between batches."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False,
                timeout=httpx.Timeout(float(settings.PLUGBOARD_OUTBOUND_TIMEOUT)),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            )
        return _client


def webhook_send(
    *,
    url: str,
    body: bytes,
    delivery_id: str,
    signature_key: str = "",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> int:
    """Send a JSON `body` to `url`; its status when 2xx, else `WebhookFailed` (or
    `outbound.network.TargetRefused` when the URL's host now resolves into a refused network)."""
    target = target_resolve(url, schemes=("http", "https"))
    address = target.addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    pinned = target.url._replace(netloc=f"{netloc}:{target.port}").geturl()
    sent = {
        **(headers or {}),
        "Host": target.url.netloc.rpartition("@")[2],
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
    }
    if signature_key:
        sent[SIGNATURE_HEADER] = webhook_signature(signature_key, body)
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    try:
        response = _http().request(
            method, pinned, content=body, headers=sent, auth=auth, extensions=extensions
        )
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"{target.host}: {type(exc).__name__} {exc}".strip()) from None
    if response.is_redirect:
        raise WebhookFailed(f"{target.host} answered {response.status_code}: redirects are not followed")
    if not response.is_success:
        raise WebhookFailed(f"{target.host} answered {response.status_code}")
    return response.status_code
