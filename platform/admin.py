"""Django admin for accounts and API keys (SPEC §9).

Secrets never appear here: the master password is set through a write-only field and stored
hashed; a key's digest and encrypted secret are not shown at all. A new secret comes from the
"regenerate" action, shown once in a message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from plugboard.models import Account, ApiKey, User
from plugboard.services import key_regenerate


class AccountForm(forms.ModelForm):
    """The master password is typed in clear once and stored hashed (`Account.set_password`)."""

    new_password = forms.CharField(
        label="Master password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored hashed. Leave empty to keep the current password.",
    )

    class Meta:
        model = Account
        fields = ["email", "name", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance._state.adding and not cleaned.get("new_password"):
            self.add_error("new_password", "A new account needs a master password.")
        return cleaned

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        taken = Account.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email

    def save(self, commit: bool = True) -> Account:
        account = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            account.set_password(self.cleaned_data["new_password"])
        if commit:
            account.save()
        return account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ["email", "id", "name", "is_active", "date_created"]
    list_filter = ["is_active", "date_created"]
    search_fields = ["email", "name", "=id"]
    readonly_fields = ["id", "date_created", "date_modified"]
    fields = ["id", "email", "name", "is_active", "new_password", "date_created", "date_modified"]


@admin.action(description="Regenerate the secret of the selected keys (shown once)")
def regenerate_secrets(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ApiKey]
) -> None:
    for key in queryset:
        secret = key_regenerate(key=key)
        modeladmin.message_user(request, f"{key.id}: new secret {secret}", messages.WARNING)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by plugs' creation, the v3 API and `createkey`; here they are inspected,
    renamed, re-scoped and regenerated."""

    list_display = ["id", "kind", "account", "plug", "context_type", "name", "rate_limit", "date_created"]
    list_filter = ["kind", "context_type", "date_created"]
    search_fields = ["=id", "name", "account__email", "=account__id", "=plug__id", "plug__name"]
    list_select_related = ["account", "plug"]
    raw_id_fields = ["account", "plug"]
    # Never the secret: neither its digest nor its encrypted form is shown or editable.
    exclude = ["secret_digest", "secret_encrypted"]
    readonly_fields = [
        "id",
        "kind",
        "account",
        "plug",
        "user",
        "context_type",
        "date_created",
        "date_modified",
    ]
    actions = [regenerate_secrets]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Users are made with their key by `POST /v3/users` (and a sub-account's administrator with
    its sub-account); here they are inspected, renamed, given another role or disabled."""

    list_display = ["email", "id", "account", "role", "is_active", "date_created"]
    list_filter = ["role", "is_active", "date_created"]
    search_fields = ["email", "name", "=id", "account__email", "=account__id"]
    list_select_related = ["account"]
    readonly_fields = ["id", "account", "date_created", "date_modified"]
    fields = ["id", "account", "email", "name", "role", "is_active", "date_created", "date_modified"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
