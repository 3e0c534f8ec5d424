"""Open MQTT sessions end when their credentials stop being valid.

A plug disabled or removed, or a device key regenerated, by any path (either dialect, the
console, the admin): the plug's connections are told to close once the change commits, so a
device cannot keep publishing with what was revoked. The same for a user or API client key
removed or regenerated, an API client's scope or context changed, a user disabled or changed
(a role is read at CONNECT), and an account suspended (every connection of its plugs and keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.models import Plug
from plugboard.live import Kind, group_send, key_group, plug_group
from plugboard.models import Account, ApiKey, User
from plugboard.services import KEY_AUTHORITY_FIELDS


def connections_revoke(plug_ids: Sequence[str], key_ids: Sequence[str] = ()) -> None:
    def send() -> None:
        for plug_id in plug_ids:
            group_send(Kind.MQTT_REVOKE, plug_group(plug_id), plug=plug_id)
        for key_id in key_ids:
            group_send(Kind.MQTT_REVOKE, key_group(key_id))

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
    # A new secret, or an API client's new scope or context (`apiclient_update` saves only what
    # changed): the rights a session read at CONNECT are no longer the key's.
    if created or not (
        update_fields is None or {"secret_digest", *KEY_AUTHORITY_FIELDS} & set(update_fields)
    ):
        return
    if instance.kind != ApiKey.Kind.DEVICE:
        connections_revoke([], [instance.id])
        return
    connections_revoke([i for i in dict.fromkeys([instance.plug_id, *(instance.context_ids or [])]) if i])


@receiver(post_delete, sender=ApiKey, dispatch_uid="mqtt-revoke-deleted-key")
def _key_deleted(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    if instance.kind != ApiKey.Kind.DEVICE:  # a device key goes with its plug (`_plug_deleted`)
        connections_revoke([], [instance.id])


@receiver(post_save, sender=User, dispatch_uid="mqtt-revoke-changed-user")
def _user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created:
        connections_revoke([], list(ApiKey.objects.filter(user=instance).values_list("id", flat=True)))


@receiver(post_save, sender=Account, dispatch_uid="mqtt-revoke-suspended-account")
def _account_saved(sender: Any, instance: Account, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        connections_revoke(
            list(Plug.objects.filter(account=instance).values_list("id", flat=True)),
            list(
                ApiKey.objects.filter(account=instance)
                .exclude(kind=ApiKey.Kind.DEVICE)
                .values_list("id", flat=True)
            ),
        )
