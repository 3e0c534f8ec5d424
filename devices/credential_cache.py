"""Verified key secrets remembered per server process, forgotten everywhere when credentials change.

Every device request and every API client request verifies a key secret (`devices.identity`):
one query, its round trip and its rows turned into a `Principal`. A `serve` process remembers
the principal of a secret it verified for `TTL_SECONDS`, keyed by the credential's form, its
id and a keyed digest of the secret (never the secret). Master passwords are not remembered
here (their PBKDF2 check has its own cache, bound to the stored hash).

Whatever can make a remembered answer wrong — a key removed or saved (a new secret, scope,
context or limit), a plug disabled or removed, a user saved or removed, an account suspended
or removed — makes every process forget all it remembers once the change commits: this one at
once, the others through the channel layer's `credentials` group (`listen`, which each `serve`
process runs). A verification that began before such a change stores nothing (the generation it
read under is gone), so no process keeps what was revoked. Only a process that listens
remembers anything (and only on a layer other processes reach: Redis): a worker, a management
command, a test process or an embedded server verifies every time.
If the layer goes quiet (Redis down) the process stops remembering until it listens again; the
TTL bounds what a lost message could leave.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.models import Plug
from plugboard.credentials import secret_digest
from plugboard.live import Kind, group_send
from plugboard.models import Account, ApiKey, User
from plugboard.principals import Principal

log = logging.getLogger(__name__)

GROUP = "credentials"
TTL_SECONDS = 10.0
MAX_ENTRIES = 20_000

_lock = threading.Lock()
_entries: dict[tuple[str, str, str], tuple[float, Principal]] = {}
_generation = 0
_listening = False


def cache_key(form: str, ident: str, secret: str) -> tuple[str, str, str]:
    return (form, ident, secret_digest(secret))


def generation() -> int | None:
    """The generation a verification starts under; None while this process does not listen."""
    return _generation if _listening else None


def remembered(key: tuple[str, str, str]) -> Principal | None:
    entry = _entries.get(key)
    if entry is None or not _listening:
        return None
    if entry[0] < time.monotonic():
        _entries.pop(key, None)
        return None
    return entry[1]


def remember(key: tuple[str, str, str], principal: Principal, started_under: int | None) -> None:
    if started_under is None:
        return
    with _lock:
        if started_under != _generation or not _listening:
            return  # credentials changed while this one was read: it may be the old answer
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (time.monotonic() + TTL_SECONDS, principal)


def forget_all() -> None:
    with _lock:
        _forget()


def _listening_set(value: bool) -> None:
    global _listening
    with _lock:
        _listening = value
        _forget()


def _forget() -> None:
    global _generation
    _generation += 1
    _entries.clear()


def credentials_changed() -> None:
    """Once the current transaction commits, every process forgets the secrets it remembers."""

    def send() -> None:
        forget_all()
        group_send(Kind.CREDENTIALS_CHANGED, GROUP)

    transaction.on_commit(send)


def listen_in_thread() -> None:
    """Listen for the process's life in a thread of its own, on its own event loop and layer
    instance: nothing it waits on is shared with the server's loop or the requests' messages.
    Only a layer other processes reach (Redis) is listened to: with the in-memory layer the
    process remembers nothing (another process's change could not reach it)."""
    if get_channel_layer() is None or isinstance(get_channel_layer(), InMemoryChannelLayer):
        return
    threading.Thread(target=lambda: asyncio.run(listen()), name="credentials-listener", daemon=True).start()


async def listen() -> None:
    """Forget on every `credentials` group message; remember only while subscribed."""
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    while True:
        try:
            channel = await layer.new_channel(prefix="credentials")
            await layer.group_add(GROUP, channel)
            _listening_set(True)
            while True:
                await layer.receive(channel)
                forget_all()
        except asyncio.CancelledError:
            _listening_set(False)
            raise
        except Exception:  # the layer is down: stop remembering until subscribed again
            _listening_set(False)
            log.warning("credential cache: channel layer unavailable; verifying every request")
            await asyncio.sleep(1.0)


# --- what makes a remembered answer wrong -------------------------------------------------------


@receiver(post_save, sender=ApiKey, dispatch_uid="credential-cache-key-saved")
def _key_saved(sender: Any, instance: ApiKey, created: bool, **kwargs: Any) -> None:
    if not created:
        credentials_changed()


@receiver(post_save, sender=Plug, dispatch_uid="credential-cache-plug-saved")
def _plug_saved(sender: Any, instance: Plug, created: bool, **kwargs: Any) -> None:
    if not created and instance.status == Plug.Status.DISABLED:
        credentials_changed()


@receiver(post_save, sender=User, dispatch_uid="credential-cache-user-saved")
def _user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created:
        credentials_changed()


@receiver(post_save, sender=Account, dispatch_uid="credential-cache-account-saved")
def _account_saved(sender: Any, instance: Account, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        credentials_changed()


@receiver(post_delete, sender=ApiKey, dispatch_uid="credential-cache-key-deleted")
@receiver(post_delete, sender=Plug, dispatch_uid="credential-cache-plug-deleted")
@receiver(post_delete, sender=User, dispatch_uid="credential-cache-user-deleted")
@receiver(post_delete, sender=Account, dispatch_uid="credential-cache-account-deleted")
def _removed(sender: Any, **kwargs: Any) -> None:
    credentials_changed()
