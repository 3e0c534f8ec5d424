"""The console's device-profile pages (SPEC §6 "Fleets"): the account's profiles; a profile's
settings, the properties its devices inherit (declared, changed and removed here) and the
devices made from it. Each create, change and delete goes through the service the v3 API calls
(`devices.services.profiles`), which asks `devices.access`; a refusal is the service's message
on the page. Reads start from the signed-in account (`devices.selectors`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from devices import access
from devices.models import DeviceProfile, Plug, ProfileProperty, Property
from devices.selectors import profile_properties_of, profiles_of
from devices.services.fields import PlugError
from devices.services.profiles import (
    ProfileFields,
    effective_properties,
    profile_create,
    profile_delete,
    profile_property_define,
    profile_property_delete,
    profile_property_update,
    profile_update,
)
from plugboard.console.fleet import LISTED
from plugboard.console.forms import submitted
from plugboard.console.session import console_page
from plugboard.principals import Principal


def _principal(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined, no-any-return]


class ProfileCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=64)
    base = forms.CharField(label="Base profile (optional: its name or id)", required=False, max_length=64)


class ProfileEditForm(forms.Form):
    friendly_name = forms.CharField(label="Friendly name", required=False, max_length=120)
    description = forms.CharField(label="Description", required=False, max_length=2000)
    base = forms.CharField(label="Base profile (its name or id; empty: none)", required=False, max_length=64)


class ProfilePropertyForm(forms.Form):
    """A property declared on a profile (`profile_property_define`, the service of
    `POST /v3/properties?owner=<profile>`); its rules (a channel name, min ≤ max) are the service's."""

    name = forms.CharField(label="Property name", max_length=200)
    type = forms.ChoiceField(label="Type", choices=Property.Type.choices, initial=Property.Type.ANY)
    access = forms.ChoiceField(
        label="Access", choices=Property.Access.choices, initial=Property.Access.PROTECTED
    )
    publish = forms.ChoiceField(
        label="Publish", choices=Property.Publish.choices, initial=Property.Publish.ALWAYS
    )
    min = forms.FloatField(label="Minimum (optional)", required=False)
    max = forms.FloatField(label="Maximum (optional)", required=False)
    description = forms.CharField(label="Description (optional)", required=False, max_length=2000)


class ProfilePropertyChangeForm(forms.Form):
    """A profile property's settings (`profile_property_update`, the service of
    `PUT /v3/properties/{id}`); the name is the devices' channel and does not change."""

    type = forms.ChoiceField(label="Type", choices=Property.Type.choices)
    access = forms.ChoiceField(label="Access", choices=Property.Access.choices)
    publish = forms.ChoiceField(label="Publish", choices=Property.Publish.choices)
    min = forms.FloatField(label="Minimum (optional)", required=False)
    max = forms.FloatField(label="Maximum (optional)", required=False)
    retention = forms.IntegerField(label="Retention in seconds (optional)", required=False, min_value=1)
    friendly_name = forms.CharField(label="Friendly name (optional)", required=False, max_length=120)
    description = forms.CharField(label="Description (optional)", required=False, max_length=2000)


@console_page
@require_http_methods(["GET", "POST"])
def profiles_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    if not access.may_read_profiles(principal):
        raise Http404
    form, made, status = submitted(
        request,
        ProfileCreateForm,
        lambda data: profile_create(
            principal=principal,
            fields=ProfileFields(name=data["name"], base_profile=data["base"] or None),
        ),
    )
    if made is not None:
        return redirect("console:profile", profile_id=made.id)
    rows = profiles_of(principal=principal).annotate(devices=Count("plugs"))[:LISTED]
    context = {"profiles": rows, "form": form, "section": "profiles"}
    return render(request, "console/profiles.html", context, status=status)


def _profile(principal: Principal, profile_id: str) -> DeviceProfile:
    profile = profiles_of(principal=principal).filter(id=profile_id).first()
    if profile is None or not access.may_read_profiles(principal):
        raise Http404
    return profile


def _profile_form(profile: DeviceProfile, data: Any = None) -> ProfileEditForm:
    base = profile.base_profile.name if profile.base_profile else ""
    initial = {"friendly_name": profile.friendly_name, "description": profile.description, "base": base}
    return ProfileEditForm(data, initial=initial)


def _profile_answer(
    request: HttpRequest,
    profile: DeviceProfile,
    *,
    status: int = 200,
    changing: tuple[str, forms.Form] | None = None,
    **extra: Any,
) -> HttpResponse:
    """A profile: the properties its devices inherit (its own and its base profiles', each of
    its own with its settings form; `changing`: the id and bound form of one that was refused),
    the devices made from it, its settings form."""
    devices = Plug.objects.filter(profile=profile).order_by("name", "id").only("id", "name", "connected")
    declared = sorted(effective_properties(profile).values(), key=lambda p: p.name.lower())
    bound_id, bound = changing or ("", None)
    context = {
        "profile": profile,
        "declared": declared,
        # a settings form for each of its own declarations (a base profile's: on that one's page)
        "property_changes": [
            (p, bound if p.id == bound_id and bound is not None else _change_form(p))
            for p in declared
            if p.profile_id == profile.id
        ],
        "devices": list(devices[:LISTED]),
        "device_count": devices.count(),
        "form": _profile_form(profile),
        "property_form": ProfilePropertyForm(),
        "section": "profiles",
        **extra,
    }
    return render(request, "console/profile.html", context, status=status)


@console_page
@require_http_methods(["GET", "POST"])
def profile_page(request: HttpRequest, profile_id: str) -> HttpResponse:
    """GET: the profile. POST: its friendly name, description and base, through `profile_update`."""
    principal = _principal(request)
    profile = _profile(principal, profile_id)
    if request.method == "GET":
        return _profile_answer(request, profile)
    form = _profile_form(profile, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        fields = ProfileFields(
            friendly_name=data["friendly_name"],
            description=data["description"],
            base_profile=data["base"] or None,
        )
        try:
            profile_update(principal=principal, profile=profile, fields=fields)
            return redirect("console:profile", profile_id=profile.id)
        except PlugError as exc:
            form.add_error(None, str(exc.detail))
    return _profile_answer(request, profile, form=form, status=400)


@console_page
@require_POST
def profile_property_page(request: HttpRequest, profile_id: str) -> HttpResponse:
    """Declare a property on the profile through `profile_property_define`: every device made
    from it (or from a profile based on it) gets the property."""
    principal = _principal(request)
    profile = _profile(principal, profile_id)
    form = ProfilePropertyForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            profile_property_define(principal=principal, profile=profile, **form.cleaned_data)
            return redirect("console:profile", profile_id=profile.id)
        except PlugError as exc:
            form.add_error(None, str(exc.detail))
            status = exc.status_code
    return _profile_answer(request, profile, property_form=form, status=status)


def _change_form(declared: ProfileProperty, data: Any = None) -> ProfilePropertyChangeForm:
    initial = {f: getattr(declared, f) for f in ProfilePropertyChangeForm.base_fields}
    return ProfilePropertyChangeForm(data, initial=initial, prefix=f"change-{declared.id}")


@console_page
@require_POST
def profile_property_change_page(request: HttpRequest, profile_id: str, property_id: str) -> HttpResponse:
    """Change one of the profile's own declarations through `profile_property_update`, the
    service of `PUT /v3/properties/{id}`: its devices' inherited rows follow, their own
    properties of the name stay as they are."""
    principal = _principal(request)
    profile = _profile(principal, profile_id)  # another account's: the 404 page
    declared = profile_properties_of(profile=profile).filter(id=property_id).first()
    if declared is None:  # a base profile's declaration is changed on that profile's page
        raise Http404
    form, changed, status = submitted(
        request,
        lambda data=None: _change_form(declared, data),
        lambda data: profile_property_update(principal=principal, declared=declared, **data),
    )
    if changed is not None:
        return redirect(f"{reverse('console:profile', args=[profile.id])}#property-settings")
    return _profile_answer(request, profile, changing=(declared.id, form), status=status)


@console_page
@require_POST
def profile_property_remove_page(request: HttpRequest, profile_id: str, property_id: str) -> HttpResponse:
    """Remove the profile's own declaration (`profile_property_delete`, as `DELETE /v3/properties/{id}`):
    its devices keep their rows and data as their own, or inherit a base profile's of the name."""
    principal = _principal(request)
    profile = _profile(principal, profile_id)
    declared = profile_properties_of(profile=profile).filter(id=property_id).first()
    if declared is None:
        raise Http404
    try:
        profile_property_delete(principal=principal, declared=declared)
    except PlugError as exc:
        return _profile_answer(request, profile, error=str(exc.detail), status=exc.status_code)
    return redirect("console:profile", profile_id=profile.id)


@console_page
@require_POST
def profile_delete_page(request: HttpRequest, profile_id: str) -> HttpResponse:
    principal = _principal(request)
    profile = _profile(principal, profile_id)
    try:
        profile_delete(principal=principal, profile=profile)
    except PlugError as exc:
        return _profile_answer(request, profile, error=str(exc.detail), status=exc.status_code)
    return redirect("console:profiles")
