"""The one data model (SPEC §4): data points and the event journal."""

from __future__ import annotations

from typing import Any

from django.db import models

from plugboard.identifiers import new_oid


class AppendOnlyIndex(models.Index):
    """An index on a column that only grows with the table (a server time): BRIN on PostgreSQL,
    a few pages that cost next to nothing per insert; a B-tree elsewhere."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class DataPoint(models.Model):
    """`(account, channel, of, at) → data`. Property P of plug D is channel P with of = D."""

    id = models.CharField(primary_key=True, max_length=24, default=new_oid, editable=False)
    # Plain ids, not foreign keys: `of` may be an account's `com-` id, and the hot write path
    # must not pay for constraint checks on every row.
    account_id = models.CharField(max_length=28)
    channel = models.CharField(max_length=200)
    of = models.CharField(max_length=28)
    at = models.BigIntegerField(help_text="ms since the epoch, UTC")
    data = models.JSONField(null=True)
    expire_at = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("account_id", "channel", "of", "at", name="datapoint_key"),
        ]
        # Every index costs each write: these three and the key are all the reads need (a
        # property's series and latest value use the key; masks use the read index).
        indexes = [
            models.Index(fields=["account_id", "channel", "-at"], name="datapoint_read"),
            models.Index(
                fields=["expire_at"], name="datapoint_expiry", condition=models.Q(expire_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}@{self.at} of {self.of}"


class JournalEntry(models.Model):
    """Append-only record of every accepted write and connection event (SPEC §4 rule 2)."""

    class Source(models.TextChoices):
        HTTP = "http"
        MQTT_WS = "mqtt-ws"
        MQTT_TCP = "mqtt-tcp"
        CONSOLE = "console"

    class Event(models.TextChoices):
        DATA = "data"
        CONNECT = "connect"
        DISCONNECT = "disconnect"
        DELETE = "delete"

    id = models.BigAutoField(primary_key=True)
    account_id = models.CharField(max_length=28)
    received_at = models.BigIntegerField(help_text="server time, ms")
    event = models.CharField(max_length=12, choices=Event.choices, default=Event.DATA)
    source = models.CharField(max_length=12, choices=Source.choices)
    credential = models.CharField(max_length=320, help_text="key id, plug id or account email")
    point_id = models.CharField(max_length=24, blank=True)
    channel = models.CharField(max_length=200, blank=True)
    of = models.CharField(max_length=28, blank=True)
    at = models.BigIntegerField(null=True)
    data = models.JSONField(null=True)
    expire_at = models.BigIntegerField(null=True)

    class Meta:
        verbose_name_plural = "journal entries"
        ordering = ["-id"]
        # Every write appends here, so each index is paid per point: a plug's entries by `of`
        # alone (a plug id belongs to one account), the retention purge by a BRIN index.
        indexes = [
            models.Index(fields=["of", "-id"], name="journal_of"),
            AppendOnlyIndex(fields=["received_at"], name="journal_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.channel} of {self.of}"


class Rollup(models.Model):
    """What one series (`account, channel, of`) held over one minute, hour or day (SPEC §14):
    enough to answer count, sum, min, max, avg, first and last of any union of buckets exactly.

    A bucket summarises every point stored in its span, expired or not: rollups outlive the raw
    points (each level has its own retention, `data.rollups`)."""

    class Level(models.IntegerChoices):
        MINUTE = 60_000
        HOUR = 3_600_000
        DAY = 86_400_000

    id = models.BigAutoField(primary_key=True)
    account_id = models.CharField(max_length=28)
    channel = models.CharField(max_length=200)
    of = models.CharField(max_length=28)
    level = models.IntegerField(choices=Level.choices, help_text="the bucket's width, ms")
    bucket = models.BigIntegerField(help_text="the bucket's start, ms since the epoch (a multiple of level)")
    count = models.BigIntegerField(help_text="points, of any value")
    numbers = models.BigIntegerField(help_text="points whose value is a number (not a boolean)")
    total = models.FloatField(null=True, help_text="sum of the numbers")
    low = models.FloatField(null=True, help_text="least number")
    high = models.FloatField(null=True, help_text="greatest number")
    first_at = models.BigIntegerField()
    first = models.JSONField(null=True)
    last_at = models.BigIntegerField()
    last = models.JSONField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("account_id", "channel", "of", "level", "bucket", name="rollup_key"),
        ]
        # The key serves the reads (a series' buckets of one level in a range); this, each
        # level's retention.
        indexes = [models.Index(fields=["level", "bucket"], name="rollup_retention")]

    def __str__(self) -> str:
        return f"{self.channel} of {self.of} {self.level}@{self.bucket}"


class RollupMark(models.Model):
    """A run of adjacent minutes of a series that changed since their rollups were computed (a
    write, an overwrite, a removal): one row per series and run a write batch touched. Appended
    by the writes (never updated, so a write never waits on another or on the refresh),
    consumed by `data.rollups.rollups_refresh`; until then the reads take those minutes from the
    raw points."""

    id = models.BigAutoField(primary_key=True)
    account_id = models.CharField(max_length=28)
    channel = models.CharField(max_length=200)
    of = models.CharField(max_length=28)
    minute = models.BigIntegerField(help_text="the first minute's start, ms")
    until = models.BigIntegerField(null=True, help_text="the end of the run, ms (none: one minute)")

    class Meta:
        indexes = [models.Index(fields=["account_id", "channel", "of", "minute"], name="rollupmark_series")]

    def __str__(self) -> str:
        return f"{self.channel} of {self.of} @{self.minute}"
