"""Accounts (tenants) and API keys (SPEC §3)."""

from __future__ import annotations

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models.functions import Lower

from plugboard.identifiers import new_account_id, new_key_id, new_user_id


class Account(models.Model):
    """A tenant: an email and a master password. Its publisher id is `com-` + 24 hex.

    A sub-account made from a name alone (SPEC §6: its administrator is optional) has no email:
    it has no master password either, and is reached through its parent (or a user added later).

    A sub-account (`parent` set) is a full tenant of its own; its parent (and the parent's
    parent) may manage it through `/v3/accounts/{id}/…`, its siblings see nothing of it.
    """

    id = models.CharField(primary_key=True, max_length=28, default=new_account_id, editable=False)
    email = models.EmailField(unique=True, null=True, blank=True)
    password = models.CharField(max_length=200, help_text="master password, hashed")
    name = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    default_retention = models.PositiveIntegerField(
        null=True, blank=True, help_text="TTL in seconds of points whose property has no retention"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="subaccounts"
    )
    friendly_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email or self.id

    @property
    def public_name(self) -> str:
        """The account's name as `GET /v3/accounts/_this_` shows it (its email until it has one;
        "" for a sub-account with neither); its MQTT mirror topics start with it, in lower case."""
        return self.name or self.email or ""

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class User(models.Model):
    """A user of an account (`_usr_…`): an email, a name and a role; the user's API key (a user
    key) may do what the role allows (`devices.access.ROLE_SCOPES`)."""

    class Role(models.TextChoices):
        ADMIN = "admin"  # everything the account may do
        DEVELOPER = "developer"  # devices, profiles, apps and data; not users, keys or sub-accounts
        VIEWER = "viewer"  # reads devices, profiles, apps and data

    id = models.CharField(primary_key=True, max_length=29, default=new_user_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField()
    name = models.CharField(max_length=120, blank=True)
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.DEVELOPER)
    is_active = models.BooleanField(default=True)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), "account", name="user_email_unique_ci")]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"


class ApiKey(models.Model):
    """A credential of the property dialect; also the plug's `auth` (its device key).

    The secret is verified through a keyed digest (`secret_digest`). Device key secrets are
    additionally kept encrypted so the account can read them back (SPEC §3).
    """

    class Kind(models.TextChoices):
        DEVICE = "device"
        USER = "user"
        APICLIENT = "apiclient"

    class ContextType(models.TextChoices):
        DEVICE = "device"  # one plug, or several for a gateway key
        ACCOUNT = "account"
        APP = "app"  # a controller plug and what it controls
        DEVICES = "devices"  # an explicit list
        PROFILE = "deviceprofile"  # a provisioning key: the device profile(s) it provisions into
        TEMPLATE = "template"  # a provisioning key: the production template(s) whose hwids it enrolls

    id = models.CharField(primary_key=True, max_length=29, default=new_key_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="keys")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=120, blank=True)
    friendly_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.CASCADE, related_name="key")
    plug = models.ForeignKey(
        "devices.Plug",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="keys",
        help_text="the device of a device key, or the app of an API client key",
    )
    context_type = models.CharField(max_length=16, choices=ContextType.choices)
    context_ids = models.JSONField(default=list, blank=True)
    scope = models.JSONField(default=list, blank=True)
    rate_limit = models.PositiveIntegerField(default=0, help_text="requests/min, 0 = unlimited")
    secret_digest = models.CharField(max_length=64, unique=True)
    secret_encrypted = models.TextField(blank=True)
    date_created = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date_created"]
        indexes = [models.Index(fields=["account", "kind"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.kind})"
