"""The console's forms: they check the shape of what was typed; the services judge the rest."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from devices.models import Plug, Property
from plugboard.channels import BadChannel, validate_mask
from plugboard.models import ApiKey
from plugboard.services import API_SCOPES


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label="Master password",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class StaffSignInForm(forms.Form):
    username = forms.CharField(
        label="Staff username", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label="Password",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AccountSearchForm(forms.Form):
    q = forms.CharField(label="Search accounts by email, name or id", required=False, max_length=254)
    after = forms.CharField(required=False, max_length=254, widget=forms.HiddenInput)


class PlugSearchForm(forms.Form):
    q = forms.CharField(label="Search by name, id or hwid", required=False, max_length=128)
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def cursor(self) -> tuple[str, str] | None:
        name, sep, plug_id = (self.cleaned_data.get("after") or "").rpartition(":")
        return (name, plug_id) if sep and name else None


class PlugCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=64)
    kind = forms.ChoiceField(label="Kind", choices=Plug.Kind.choices, initial=Plug.Kind.THING)
    hwid = forms.CharField(label="Hardware id (optional)", required=False, max_length=128)


class CommandForm(forms.Form):
    property = forms.ChoiceField(label="Property")
    value = forms.CharField(
        label="Value (JSON)", max_length=64 * 1024, widget=forms.TextInput(attrs={"placeholder": "21.5"})
    )

    def __init__(self, *args: Any, properties: list[Property], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["property"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(p.id, p.name) for p in properties]

    def clean_value(self) -> Any:
        text = self.cleaned_data["value"]
        try:
            return json.loads(text)
        except ValueError:
            raise forms.ValidationError(
                'not JSON: a number, true/false, null, "text" in quotes, [..] or {..}'
            )


class PropertyForm(forms.Form):
    type = forms.ChoiceField(label="Type", choices=Property.Type.choices)
    access = forms.ChoiceField(label="Access", choices=Property.Access.choices)
    publish = forms.ChoiceField(label="Publish", choices=Property.Publish.choices)
    min = forms.FloatField(label="Min", required=False)
    max = forms.FloatField(label="Max", required=False)
    retention = forms.IntegerField(label="Retention (s)", required=False, min_value=1)


WINDOWS = {"hour": 3_600_000, "day": 86_400_000, "week": 7 * 86_400_000}


class ChartForm(forms.Form):
    chart = forms.CharField(label="Property", required=False, max_length=200)
    window = forms.ChoiceField(
        label="Window",
        required=False,
        choices=[("hour", "last hour"), ("day", "last day"), ("week", "last week")],
    )


class ChannelSearchForm(forms.Form):
    mask = forms.CharField(label="Channel mask (+ one level, # the rest)", required=False, max_length=200)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000, widget=forms.HiddenInput)

    def clean_mask(self) -> str:
        try:
            return validate_mask(self.cleaned_data.get("mask") or "#")
        except BadChannel as exc:
            raise forms.ValidationError(str(exc))


class KeyCreateForm(forms.Form):
    KINDS = [(ApiKey.Kind.USER, "user key (the whole account)"), (ApiKey.Kind.APICLIENT, "API client key")]
    CONTEXTS = [
        (ApiKey.ContextType.ACCOUNT, "the account"),
        (ApiKey.ContextType.APP, "an app (a controller plug)"),
        (ApiKey.ContextType.DEVICES, "listed devices"),
    ]

    kind = forms.ChoiceField(label="Kind", choices=KINDS)
    name = forms.CharField(label="Name (optional)", required=False, max_length=120)
    context = forms.ChoiceField(label="Context (API client)", choices=CONTEXTS, required=False)
    plugs = forms.CharField(
        label="App id, or device ids separated by commas", required=False, max_length=4000
    )
    scope = forms.MultipleChoiceField(
        label="Scopes (API client)",
        required=False,
        choices=[(s, s) for s in sorted(API_SCOPES)],
        widget=forms.CheckboxSelectMultiple,
    )

    def plug_ids(self) -> list[str]:
        return [p.strip() for p in (self.cleaned_data.get("plugs") or "").split(",") if p.strip()]
