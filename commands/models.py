"""Commands pushed to devices, and persistent MQTT sessions (SPEC §4 rule 5, §7)."""

from __future__ import annotations

from django.db import models

from plugboard.identifiers import new_oid


class Command(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        ACKED = "acked"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=24, default=new_oid, editable=False)
    account_id = models.CharField(max_length=28)
    plug = models.ForeignKey("devices.Plug", on_delete=models.CASCADE, related_name="commands")
    property = models.CharField(max_length=200)
    value = models.JSONField(null=True)
    at = models.BigIntegerField(help_text="the point's time, ms")
    point_id = models.CharField(max_length=24, blank=True)
    credential = models.CharField(max_length=320, help_text="who wrote it")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    expire_at = models.BigIntegerField(help_text="ms since the epoch")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["plug", "state"], name="command_delivery"),
            models.Index(fields=["expire_at"], name="command_expiry"),
            # /metrics counts commands by state (commands.selectors.commands_by_state).
            models.Index(fields=["state"], name="command_state"),
            # the console's home counts an account's commands not yet acknowledged from this alone
            models.Index(
                fields=["account_id"], condition=models.Q(state__in=["pending", "sent"]), name="command_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plug_id}/{self.property} ({self.state})"


class MqttSession(models.Model):
    """A clean-session-0 client's subscriptions, kept across reconnects.

    Sessions belong to an account (SPEC §7): one client id names one session per account, so
    another account using the same client id neither sees nor replaces it.
    """

    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="mqtt_sessions")
    client_id = models.CharField(max_length=128)  # devices.identity.MAX_CLIENT_ID
    plug = models.ForeignKey(
        "devices.Plug", null=True, blank=True, on_delete=models.CASCADE, related_name="mqtt_sessions"
    )
    subscriptions = models.JSONField(default=dict, help_text="topic filter → granted QoS")
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "client_id"], name="mqtt_session_per_account"),
        ]

    def __str__(self) -> str:
        return self.client_id
