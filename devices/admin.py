"""Django admin for plugs, controls, production templates, properties and device logs (SPEC §9).

Passwords (a controller's control password, a template's enroll and control passwords) are
typed once and stored hashed; the hashes are never shown. A plug added here gets its device
key, whose secret (the plug's `auth`) is shown once in a message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.hashers import make_password
from django.db.models import QuerySet
from django.http import HttpRequest

from devices.credential_cache import credentials_changed
from devices.models import (
    Control,
    DeviceLogEntry,
    DeviceProfile,
    Plug,
    ProductionTemplate,
    ProfileProperty,
    Property,
    TemplateHwid,
)
from plugboard.models import ApiKey
from plugboard.services import key_create


class ControlInline(admin.TabularInline):
    model = Control
    fk_name = "thing"
    extra = 0
    raw_id_fields = ["controller"]
    readonly_fields = ["date_created"]
    verbose_name = "controller"
    verbose_name_plural = "controlled by"


class PropertyInline(admin.TabularInline):
    model = Property
    extra = 0
    fields = ["name", "type", "access", "publish", "min", "max", "retention", "last_value", "last_at"]
    readonly_fields = ["last_value", "last_at"]
    show_change_link = True


def _set_status(queryset: QuerySet[Plug], status: str) -> int:
    return queryset.update(status=status)


@admin.action(description="Turn debug on (record rejections in the device log)")
def debug_on(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Plug]) -> None:
    modeladmin.message_user(request, f"{_set_status(queryset, Plug.Status.DEBUG)} plug(s) in debug")


@admin.action(description="Turn debug off (status ok)")
def debug_off(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Plug]) -> None:
    modeladmin.message_user(request, f"{_set_status(queryset, Plug.Status.OK)} plug(s) back to ok")


@admin.action(description="Disable")
def disable(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Plug]) -> None:
    disabled = _set_status(queryset, Plug.Status.DISABLED)
    credentials_changed()  # an update sends no post_save: remembered device keys are forgotten here
    modeladmin.message_user(request, f"{disabled} plug(s) disabled")


@admin.register(Plug)
class PlugAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "id",
        "account",
        "kind",
        "origin",
        "status",
        "connected",
        "transport",
        "last_seen",
    ]
    list_filter = ["kind", "origin", "status", "connected", "transport"]
    search_fields = ["name", "=id", "hwid", "friendly_name", "account__email"]
    list_select_related = ["account"]
    raw_id_fields = ["account", "template", "profile"]
    readonly_fields = ["id", "connected", "last_seen", "transport", "date_created", "date_modified"]
    exclude = ["control_password"]  # a hash: set by enrollment, never shown
    inlines = [PropertyInline, ControlInline]
    actions = [debug_on, debug_off, disable]

    def save_model(self, request: HttpRequest, obj: Plug, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # every plug has a device key; its secret is the plug's auth (SPEC §3)
            key, secret = key_create(
                account=obj.account_id, kind=ApiKey.Kind.DEVICE, plug=obj, name=f"{obj.name} device key"
            )
            self.message_user(request, f"{obj.id}: device key {key.id}, auth {secret}", messages.WARNING)


@admin.register(Control)
class ControlAdmin(admin.ModelAdmin):
    list_display = ["controller", "thing", "rights", "date_created"]
    list_filter = ["rights"]
    search_fields = ["controller__name", "=controller__id", "thing__name", "=thing__id"]
    list_select_related = ["controller", "thing"]
    raw_id_fields = ["controller", "thing"]


class TemplateHwidForm(forms.ModelForm):
    """Enroll and control passwords are typed in clear and stored hashed."""

    new_enroll_password = forms.CharField(
        label="Enroll password",
        required=False,
        strip=False,
        widget=forms.PasswordInput,
        help_text="Stored hashed. Leave empty to keep the current one.",
    )
    new_control_password = forms.CharField(
        label="Control password",
        required=False,
        strip=False,
        widget=forms.PasswordInput,
        help_text="Optional; stored hashed. Leave empty to keep the current one.",
    )

    class Meta:
        model = TemplateHwid
        fields = ["template", "hwid", "plug"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance._state.adding and not cleaned.get("new_enroll_password") and cleaned.get("hwid"):
            self.add_error("new_enroll_password", "A new hwid needs an enroll password.")
        return cleaned

    def save(self, commit: bool = True) -> TemplateHwid:
        entry = super().save(commit=False)
        if self.cleaned_data.get("new_enroll_password"):
            entry.enroll_password = make_password(self.cleaned_data["new_enroll_password"])
        if self.cleaned_data.get("new_control_password"):
            entry.control_password = make_password(self.cleaned_data["new_control_password"])
        if commit:
            entry.save()
        return entry


class TemplateHwidInline(admin.TabularInline):
    model = TemplateHwid
    form = TemplateHwidForm
    extra = 0
    raw_id_fields = ["plug"]
    fields = ["hwid", "new_enroll_password", "new_control_password", "plug"]


@admin.register(ProductionTemplate)
class ProductionTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "account", "date_created"]
    list_filter = ["date_created"]
    search_fields = ["name", "=id", "account__email"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    readonly_fields = ["id", "date_created"]
    inlines = [TemplateHwidInline]


@admin.register(TemplateHwid)
class TemplateHwidAdmin(admin.ModelAdmin):
    form = TemplateHwidForm
    list_display = ["hwid", "template", "plug", "has_control_password"]
    list_filter = ["template"]
    search_fields = ["hwid", "template__name", "=template__id", "=plug__id"]
    list_select_related = ["template", "plug"]
    raw_id_fields = ["template", "plug"]
    fields = ["template", "hwid", "new_enroll_password", "new_control_password", "plug"]

    @admin.display(boolean=True, description="control password")
    def has_control_password(self, entry: TemplateHwid) -> bool:
        return bool(entry.control_password)


@admin.register(Property)
class PropertyAdmin(admin.ModelAdmin):
    list_display = ["name", "plug", "type", "access", "publish", "retention", "last_at", "date_modified"]
    list_filter = ["type", "access", "publish"]
    search_fields = ["name", "=id", "plug__name", "=plug__id"]
    list_select_related = ["plug"]
    raw_id_fields = ["plug"]
    # A copy of a profile's declaration is kept in step by devices.services.profiles.
    readonly_fields = ["id", "inherited_from", "last_value", "last_at", "date_created", "date_modified"]


PROFILE_PROPERTY_FIELDS = ("name", "type", "access", "publish", "min", "max", "retention")


class ProfilePropertyInline(admin.TabularInline):
    """Read here; declared and changed through `/v3/properties?owner=…`, so that every device of
    the profile follows (devices.services.profiles)."""

    model = ProfileProperty
    extra = 0
    fields = PROFILE_PROPERTY_FIELDS
    readonly_fields = PROFILE_PROPERTY_FIELDS
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeviceProfile)
class DeviceProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "account", "base_profile", "vendor_name", "product_name", "date_modified"]
    list_filter = ["device_class", "vendor_name"]
    search_fields = ["name", "=id", "account__email", "product_name", "vendor_name"]
    list_select_related = ["account", "base_profile"]
    raw_id_fields = ["account"]
    # The base decides what the devices inherit: changed through /v3/deviceprofiles only.
    readonly_fields = ["id", "base_profile", "date_created", "date_modified"]
    inlines = [ProfilePropertyInline]


@admin.register(ProfileProperty)
class ProfilePropertyAdmin(admin.ModelAdmin):
    """Read here: a change must reach every device of the profile (devices.services.profiles)."""

    list_display = ["name", "profile", "type", "access", "publish", "retention", "date_modified"]
    list_filter = ["type", "access", "publish"]
    search_fields = ["name", "=id", "profile__name", "=profile__id"]
    list_select_related = ["profile"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeviceLogEntry)
class DeviceLogEntryAdmin(admin.ModelAdmin):
    """The device log is written by the platform; here it is read."""

    list_display = ["at", "plug", "source", "property", "code", "message"]
    list_filter = ["source", "code"]
    search_fields = ["=plug__id", "plug__name", "property", "code", "message"]
    list_select_related = ["plug"]
    raw_id_fields = ["plug"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
