"""The durable outbox (SPEC §13): what must leave the platform, committed with the write that
caused it and claimed by the delivery workers.

A *stream* is one (kind, target, key): e.g. a data connector and one device. Its messages are
delivered in id order, one batch at a time; the stream row carries the claim (a lease), the
retry schedule and a write counter, so a worker finds due work without scanning messages and
never holds a database lock while it talks to the outside world.
"""

from __future__ import annotations

from django.db import models


class OutboxStream(models.Model):
    kind = models.CharField(max_length=32)
    target = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    # When its head batch may next be tried (epoch ms); NULL: nothing to deliver.
    due_at = models.BigIntegerField(null=True)
    # A worker's claim runs until this instant (epoch ms); 0: not claimed.
    lease_until = models.BigIntegerField(default=0)
    # Failed attempts of the head batch so far (the retry schedule's position).
    attempts = models.IntegerField(default=0)
    # Bumped by every write that adds messages: a worker that emptied the stream only marks it
    # idle when no write came in meanwhile (one it could not see yet).
    seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "outbound_stream"
        constraints = [models.UniqueConstraint(fields=["kind", "target", "key"], name="outbound_stream_uniq")]
        indexes = [
            models.Index(
                fields=["due_at"], name="outbound_stream_due", condition=models.Q(due_at__isnull=False)
            ),
            models.Index(fields=["kind", "target"], name="outbound_stream_target"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} {self.key}"


class OutboxMessage(models.Model):
    stream = models.ForeignKey(OutboxStream, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    account_id = models.CharField(max_length=32)
    # The payload as JSON text (orjson, outbound.outbox): a batch write's message carries
    # thousands of points, and PostgreSQL's jsonb parsing and compression of such a value cost
    # more than the write's own rows; the outbox never queries inside it.
    payload = models.TextField()
    created_at = models.BigIntegerField()  # epoch ms
    # Past this instant (epoch ms) a message that still fails becomes a dead letter.
    expires_at = models.BigIntegerField()
    # The batch it was first claimed in; the same on every retry of that batch.
    delivery_id = models.CharField(max_length=40, blank=True, default="")
    dead = models.BooleanField(default=False)
    # How many items the payload carries (a data connector's message: the points of one write
    # for one device); batches, counters and status count items, so one row per write suffices.
    size = models.IntegerField(default=1)
    # A dead letter's attempts and the error of its last one.
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "outbound_message"
        indexes = [
            models.Index(fields=["stream", "id"], name="outbound_msg_live", condition=models.Q(dead=False)),
            models.Index(fields=["stream", "id"], name="outbound_msg_dead", condition=models.Q(dead=True)),
        ]

    def __str__(self) -> str:
        return f"outbox message {self.id}"


class OutboxTarget(models.Model):
    """Delivery counters of one (kind, target), updated once per batch."""

    kind = models.CharField(max_length=32)
    target = models.CharField(max_length=64)
    delivered = models.BigIntegerField(default=0)  # messages delivered
    failures = models.BigIntegerField(default=0)  # failed batch attempts
    dead = models.BigIntegerField(default=0)  # messages turned into dead letters
    last_delivered_at = models.BigIntegerField(null=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.BigIntegerField(null=True)

    class Meta:
        db_table = "outbound_target"
        constraints = [models.UniqueConstraint(fields=["kind", "target"], name="outbound_target_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"


class DataConnector(models.Model):
    """A Connio data connector (SPEC §13): forwards the accepted points of the devices plugged into
    its app to an HTTP receiver, an external MQTT broker or an AMQP exchange."""

    class Type(models.TextChoices):
        HTTP = "http"
        MQTT = "mqtt"
        AMQP = "amqp"

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="+")
    app = models.ForeignKey("devices.Plug", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=8, choices=Type.choices)
    disabled = models.BooleanField(default=False)
    # What may be shown: url without its password, method, headers, topic, exchange, routing key,
    # the property and channel-mask filters (outbound.connectors reads and writes it).
    config = models.JSONField(default=dict)
    # The credentials (URL password, basic-auth password, signature key) as one encrypted JSON
    # object (plugboard.credentials); never returned.
    secrets = models.TextField(blank=True, default="")
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "outbound_dataconnector"
        ordering = ["date_created", "id"]

    def __str__(self) -> str:
        return f"{self.type} connector {self.id}"
