"""Plugs (things, controllers), production templates, properties and device logs."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Lower

from plugboard.identifiers import new_plug_id, new_profile_id, new_property_id, new_template_id


def default_perm() -> dict[str, Any]:
    # CloudPlugs' Perm: `of.r`/`of.w` list the plugs whose data this plug may read/write
    # (null = every plug of the account); `ctrl` is what a controller gets on this thing.
    return {"of": {"r": [], "w": []}, "ctrl": "rw"}


class Plug(models.Model):
    class Kind(models.TextChoices):
        THING = "thing"
        CONTROLLER = "controller"

    class Origin(models.TextChoices):
        PROTOTYPE = "prototype"
        PRODUCTION = "production"

    class Status(models.TextChoices):
        OK = "ok"
        DISABLED = "disabled"
        DEBUG = "debug"

    id = models.CharField(primary_key=True, max_length=28, default=new_plug_id, editable=False)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="plugs")
    name = models.CharField(max_length=64)
    friendly_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    hwid = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.THING)
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.PROTOTYPE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    template = models.ForeignKey(
        "ProductionTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="plugs"
    )
    props = models.JSONField(default=dict, blank=True)
    perm = models.JSONField(default=default_perm, blank=True)
    # The device profile it was made from (its properties are materialized as inherited rows);
    # a profile in use cannot be deleted (RESTRICT, not PROTECT: deleting the whole account
    # deletes both).
    profile = models.ForeignKey(
        "DeviceProfile", null=True, blank=True, on_delete=models.RESTRICT, related_name="plugs"
    )
    control_password = models.CharField(
        max_length=200, blank=True, help_text="hashed; controllers present it"
    )
    controls = models.ManyToManyField(
        "self", through="Control", symmetrical=False, related_name="controllers", blank=True
    )
    connected = models.BooleanField(default=False)
    last_seen = models.DateTimeField(null=True, blank=True)
    transport = models.CharField(max_length=12, blank=True)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "account", name="plug_name_unique_ci"),
        ]
        indexes = [
            models.Index(fields=["account", "hwid"]),
            # the console's plug list: keyset pages of (name, id) within an account
            models.Index(fields=["account", "name", "id"], name="plug_list"),
            # the console's home: devices, connected now and inactive, counted from the index alone
            models.Index(fields=["account", "connected", "last_seen"], name="plug_presence"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_disabled(self) -> bool:
        return self.status == self.Status.DISABLED


class Control(models.Model):
    """A controller's control of a thing, with the rights the thing's `perm.ctrl` granted."""

    controller = models.ForeignKey(Plug, on_delete=models.CASCADE, related_name="control_of")
    thing = models.ForeignKey(Plug, on_delete=models.CASCADE, related_name="controlled_by")
    rights = models.CharField(max_length=2, default="rw")
    date_created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint("controller", "thing", name="control_unique")]

    def __str__(self) -> str:
        return f"{self.controller_id} controls {self.thing_id}"


class ProductionTemplate(models.Model):
    """A production model (`mod-…`): the hwids that may enroll, with their passwords."""

    id = models.CharField(primary_key=True, max_length=28, default=new_template_id, editable=False)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=120)
    props = models.JSONField(default=dict, blank=True)
    perm = models.JSONField(default=default_perm, blank=True)
    date_created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class TemplateHwid(models.Model):
    template = models.ForeignKey(ProductionTemplate, on_delete=models.CASCADE, related_name="hwids")
    hwid = models.CharField(max_length=128)
    enroll_password = models.CharField(max_length=200, help_text="hashed")
    control_password = models.CharField(max_length=200, blank=True, help_text="hashed, optional")
    plug = models.OneToOneField(
        Plug, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollment"
    )

    class Meta:
        constraints = [models.UniqueConstraint("template", "hwid", name="template_hwid_unique")]

    def __str__(self) -> str:
        return f"{self.template_id}/{self.hwid}"


class DeviceProfile(models.Model):
    """A device profile (`_dpf_…`, SPEC §6 "Fleets"): properties declared once for every device
    made from it; a base profile's properties are inherited too (the nearest declaration wins).

    An app profile (`_apf_…`, `kind` app) is the same thing for apps (controller plugs); the two
    kinds never mix (a device's profile is a device profile, a base profile is of the same kind).
    """

    class Kind(models.TextChoices):
        DEVICE = "device"
        APP = "app"

    id = models.CharField(primary_key=True, max_length=29, default=new_profile_id, editable=False)
    account = models.ForeignKey("plugboard.Account", on_delete=models.CASCADE, related_name="profiles")
    name = models.CharField(max_length=64)
    friendly_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    device_class = models.CharField(max_length=120, blank=True)
    product_name = models.CharField(max_length=120, blank=True)
    vendor_name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DEVICE)
    version = models.CharField(max_length=40, blank=True)
    # An http(s) URL (`devices.services.fields.url_field` checks it on every path).
    image_url = models.CharField(max_length=500, blank=True)
    base_profile = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="derived"
    )
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "account", name="profile_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Property(models.Model):
    """Property `name` of a plug: channel `name` with `of` = the plug (SPEC §4)."""

    class Type(models.TextChoices):
        ANY = "any"
        NUMBER = "number"
        BOOLEAN = "boolean"
        STRING = "string"
        OBJECT = "object"
        ARRAY = "array"

    class Access(models.TextChoices):
        PRIVATE = "private"
        PROTECTED = "protected"
        PUBLIC = "public"

    class Publish(models.TextChoices):
        ALWAYS = "always"
        CHANGED = "changed"
        NEVER = "never"

    id = models.CharField(primary_key=True, max_length=29, default=new_property_id, editable=False)
    plug = models.ForeignKey(Plug, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.ANY)
    min = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    access = models.CharField(max_length=10, choices=Access.choices, default=Access.PROTECTED)
    publish = models.CharField(max_length=10, choices=Publish.choices, default=Publish.ALWAYS)
    retention = models.PositiveIntegerField(null=True, blank=True, help_text="default TTL, seconds")
    description = models.TextField(blank=True)
    # Connio's descriptive fields: shown and kept, never applied to a point.
    friendly_name = models.CharField(max_length=120, blank=True)
    tags = models.JSONField(default=list, blank=True)
    measurement = models.JSONField(
        null=True, blank=True, help_text='Connio\'s {"type", "unit": {"label", "symbol"}}'
    )
    last_value = models.JSONField(null=True, blank=True)
    last_at = models.BigIntegerField(null=True, blank=True, help_text="ms since the epoch")
    # Set while the row is a copy of its device profile's (or a base profile's) declaration;
    # None once the device has a property of its own by that name.
    inherited_from = models.ForeignKey(
        "ProfileProperty", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies"
    )
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "properties"
        ordering = ["name"]
        constraints = [models.UniqueConstraint("plug", "name", name="property_unique")]

    def __str__(self) -> str:
        return f"{self.plug_id}/{self.name}"


# A property's settings: what `property_update` may change, and what a profile property hands
# down to its devices' inherited rows.
INHERITED_SETTINGS = (
    "type",
    "min",
    "max",
    "access",
    "publish",
    "retention",
    "description",
    "friendly_name",
    "tags",
    "measurement",
)


class ProfileProperty(models.Model):
    """A property declared on a device profile. Each device of the profile (or of a profile
    derived from it) holds it as its own `Property` row marked `inherited_from` this one, so the
    write path reads a device's rows only, never the profile chain."""

    id = models.CharField(primary_key=True, max_length=29, default=new_property_id, editable=False)
    profile = models.ForeignKey(DeviceProfile, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Property.Type.choices, default=Property.Type.ANY)
    min = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    access = models.CharField(
        max_length=10, choices=Property.Access.choices, default=Property.Access.PROTECTED
    )
    publish = models.CharField(
        max_length=10, choices=Property.Publish.choices, default=Property.Publish.ALWAYS
    )
    retention = models.PositiveIntegerField(null=True, blank=True, help_text="default TTL, seconds")
    description = models.TextField(blank=True)
    friendly_name = models.CharField(max_length=120, blank=True)
    tags = models.JSONField(default=list, blank=True)
    measurement = models.JSONField(null=True, blank=True)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "profile properties"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "profile", name="profile_property_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id}/{self.name}"


class DeviceLogEntry(models.Model):
    """Rejections and protocol errors of a plug in debug status."""

    plug = models.ForeignKey(Plug, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=12)  # http, mqtt-ws, mqtt-tcp, console
    property = models.CharField(max_length=200, blank=True)
    code = models.CharField(max_length=40)
    message = models.TextField()

    class Meta:
        verbose_name_plural = "device log entries"
        ordering = ["-id"]
        indexes = [models.Index(fields=["plug", "-id"])]

    def __str__(self) -> str:
        return f"{self.plug_id}: {self.code}"
