"""The console's forms: they check the shape of what was typed; the services judge the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.http import HttpRequest

from devices.models import Plug, Property
from devices.services.fields import PlugError
from plugboard.channels import BadChannel, validate_mask
from plugboard.models import ApiKey
from plugboard.services import API_SCOPES
from plugboard.timestamps import MAX_MS

T = TypeVar("T")


def submitted(
    request: HttpRequest, make_form: Callable[..., forms.Form], save: Callable[[dict[str, Any]], T]
) -> tuple[forms.Form, T | None, int]:
    """A form's round trip, to create or to change: (the form to show, what the service
    returned, the page's status). `make_form(data=None)` builds the form (a class, or a
    function that gives a change form its row's values); a success shows a fresh form; an
    invalid form or the service's refusal (on the form) is a 400."""
    if request.method != "POST":
        return make_form(), None, 200
    form = make_form(request.POST)
    if form.is_valid():
        try:
            return make_form(), save(form.cleaned_data), 200
        except PlugError as exc:
            form.add_error(None, str(exc.detail))
    return form, None, 400


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
WINDOW_CHOICES = [("hour", "last hour"), ("day", "last day"), ("week", "last week"), ("range", "from … to")]
# A custom range spans at most this much (the chart averages it into CHART_POINTS buckets anyway).
MAX_RANGE_MS = 5 * 366 * 86_400_000
RANGE_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
EPOCH_MS = 0


class ChartForm(forms.Form):
    """The chart's property and window: one of the last hour/day/week, or a `from`–`to` range
    (UTC, as `<input type="datetime-local">` sends it)."""

    chart = forms.CharField(label="Property", required=False, max_length=200)
    window = forms.ChoiceField(label="Window", required=False, choices=WINDOW_CHOICES)
    start = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        input_formats=RANGE_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    end = forms.DateTimeField(
        label="To (UTC)",
        required=False,
        input_formats=RANGE_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["start"].widget.attrs["id"] = "chart-from"
        self.fields["end"].widget.attrs["id"] = "chart-to"

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if self.errors:
            return data
        if start is None and end is None:
            if data.get("window") == "range":
                raise forms.ValidationError("a range needs its start and end")
            return data
        if start is None or end is None:
            raise forms.ValidationError("a range needs both its start and its end")
        data["window"] = "range"
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        if start_ms < EPOCH_MS:
            self.add_error("start", "before 1970")
        elif end_ms <= start_ms:
            self.add_error("end", "the end must come after the start")
        elif end_ms > MAX_MS:
            self.add_error("end", "after the year 2499")
        elif end_ms - start_ms > MAX_RANGE_MS:
            self.add_error("end", "a range spans at most five years")
        data["start_ms"], data["end_ms"] = start_ms, end_ms
        return data

    def span(self, now: int) -> tuple[int, int, str]:
        """The valid form's `(start ms, end ms, window name)`; the last hour when unbound."""
        data = self.cleaned_data if self.is_valid() else {}
        window = data.get("window") or "hour"
        if window == "range" and "start_ms" in data:
            return data["start_ms"], data["end_ms"], "range"
        window = window if window in WINDOWS else "hour"
        return now - WINDOWS[window], now, window


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


class ApiClientEditForm(forms.Form):
    """An API client's change (`plugboard.services.apiclient_update`, as `PUT /v3/apiclients/{id}`);
    the secret stays. A new scope or context ends the key's MQTT sessions."""

    name = forms.CharField(label="Name", required=False, max_length=120)
    description = forms.CharField(label="Description", required=False, max_length=2000)
    context = forms.ChoiceField(label="Context", choices=KeyCreateForm.CONTEXTS)
    plugs = forms.CharField(
        label="App id, or device ids separated by commas", required=False, max_length=4000
    )
    scope = forms.MultipleChoiceField(
        label="Scopes", choices=[(s, s) for s in sorted(API_SCOPES)], widget=forms.CheckboxSelectMultiple
    )
    rate_limit = forms.IntegerField(
        label="Rate limit (requests a minute; 0: none)", min_value=0, max_value=2**31 - 1
    )

    # A provisioning key's context (one profile or template) is kept as it is here; the API
    # changes it (`PUT /v3/apiclients/{id}` with a `context`).
    KEPT_CONTEXTS = (ApiKey.ContextType.PROFILE, ApiKey.ContextType.TEMPLATE)

    def __init__(self, *args: Any, key: ApiKey, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if key.context_type in self.KEPT_CONTEXTS:
            context = self.fields["context"]
            assert isinstance(context, forms.ChoiceField)
            context.choices = [(key.context_type, f"{key.context_type} (kept)")]

    @classmethod
    def of(cls, key: ApiKey) -> ApiClientEditForm:
        plugs = (
            key.plug_id if key.context_type == ApiKey.ContextType.APP else ", ".join(key.context_ids or [])
        )
        return cls(
            key=key,
            initial={
                "name": key.name,
                "description": key.description,
                "context": key.context_type,
                "plugs": plugs or "",
                "scope": list(key.scope or []),
                "rate_limit": key.rate_limit,
            },
        )

    def plug_ids(self) -> list[str]:
        return [p.strip() for p in (self.cleaned_data.get("plugs") or "").split(",") if p.strip()]
