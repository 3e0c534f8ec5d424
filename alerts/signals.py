"""Receivers that keep the alerts app in step with the plugs and profiles below it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from alerts.activity import activity_sync
from alerts.models import Alert
from alerts.watch import snapshot, watch_changed
from devices.models import DeviceProfile, Plug


@receiver(post_save, sender=Plug, dispatch_uid="alerts.plug_saved")
def plug_saved(sender: type[Plug], instance: Plug, update_fields: Any = None, **_: Any) -> None:
    """A device's `period` (its v3 extras) decides whether its activity is watched."""
    if update_fields is not None and "props" not in update_fields:
        return
    activity_sync(plug=instance, watched=instance.id in snapshot().watched)


@receiver(post_delete, sender=Plug, dispatch_uid="alerts.plug_deleted")
@receiver(post_delete, sender=DeviceProfile, dispatch_uid="alerts.profile_deleted")
def owner_deleted(sender: Any, instance: Plug | DeviceProfile, **_: Any) -> None:
    """An owner's alerts go with it."""
    if Alert.objects.filter(account_id=instance.account_id, owner_id=instance.id).delete()[0]:
        watch_changed()


@receiver(post_save, sender=DeviceProfile, dispatch_uid="alerts.profile_saved")
def profile_saved(sender: type[DeviceProfile], instance: DeviceProfile, created: bool, **_: Any) -> None:
    """A profile's base decides which profile alerts cover its devices (alerts.watch keeps the
    bases): a new profile with a base, or any change of one, reloads the snapshots."""
    if instance.base_profile_id is not None or not created:
        watch_changed()
