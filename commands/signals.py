"""Open MQTT sessions end when their credentials stop being valid.

A plug disabled or removed, or a device key regenerated, by any path (either dialect, the
console, the admin): the plug's connections are told to close once the change commits, so a
device cannot keep publishing with what was revoked.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.models import Plug
from plugboard.live import Kind, group_send, plug_group
from plugboard.models import ApiKey


def connections_revoke(plug_ids: list[str]) -> None:
    def send() -> None:
        for plug_id in plug_ids:
            group_send(Kind.MQTT_REVOKE, plug_group(plug_id), plug=plug_id)

    transaction.on_commit(send)


@receiver(post_save, sender=Plug, dispatch_uid="mqtt-revoke-disabled-plug")
def _plug_saved(sender: Any, instance: Plug, created: bool, **kwargs: Any) -> None:
    if not created and instance.status == Plug.Status.DISABLED:
        connections_revoke([instance.id])


@receiver(post_delete, sender=Plug, dispatch_uid="mqtt-revoke-deleted-plug")
def _plug_deleted(sender: Any, instance: Plug, **kwargs: Any) -> None:
    connections_revoke([instance.id])


@receiver(post_save, sender=ApiKey, dispatch_uid="mqtt-revoke-regenerated-key")
def _key_saved(
    sender: Any, instance: ApiKey, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if created or instance.kind != ApiKey.Kind.DEVICE:
        return
    if update_fields is None or "secret_digest" in update_fields:
        connections_revoke([i for i in dict.fromkeys([instance.plug_id, *(instance.context_ids or [])]) if i])
