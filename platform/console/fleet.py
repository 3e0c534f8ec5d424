"""The console's pages for what the v3 management API manages besides plugs (SPEC §6 "Fleets"):
device profiles, apps, users and sub-accounts. Each list, create, change and delete goes
through the service the API calls (`devices.services.profiles`, `plugboard.accounts.services`),
which asks `devices.access`; a refusal is the service's message on the page, never a second
spelling of its rule here. Reads start from the signed-in account (`devices.selectors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from devices import access
from devices.models import Control, DeviceProfile, Plug, Property
from devices.selectors import profile_properties_of, profiles_of, subaccounts_of, user_resolve, users_of
from devices.services.fields import PlugError
from devices.services.profiles import (
    ProfileFields,
    effective_properties,
    profile_create,
    profile_delete,
    profile_property_define,
    profile_property_delete,
    profile_update,
)
from plugboard.accounts.services import ROLES, subaccount_create, user_create, user_delete, user_update
from plugboard.console.session import console_page, subaccount_leave, subaccount_open
from plugboard.principals import Principal

T = TypeVar("T")

LISTED = 200  # rows a fleet page lists (an account has tens of profiles and users, not thousands)
APP_DEVICES = 10  # devices named per app on the apps page (the count says how many in all)


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


class UserCreateForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    name = forms.CharField(label="Name (optional)", required=False, max_length=120)
    role = forms.ChoiceField(label="Role", choices=[(r, r) for r in ROLES], initial="developer")


class SubaccountCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    admin_email = forms.EmailField(
        label="Administrator's email (optional: a user of the sub-account with its own key)",
        required=False,
        max_length=254,
    )


# --- device profiles -------------------------------------------------------------------------------


def _submitted(
    request: HttpRequest, form_class: type[forms.Form], create: Callable[[dict[str, Any]], T]
) -> tuple[forms.Form, T | None, int]:
    """A create form's round trip: (the form to show, what the service made, the page's status).
    A success shows a fresh form; an invalid form or the service's refusal (on the form) is a 400."""
    if request.method != "POST":
        return form_class(), None, 200
    form = form_class(request.POST)
    if form.is_valid():
        try:
            return form_class(), create(form.cleaned_data), 200
        except PlugError as exc:
            form.add_error(None, str(exc.detail))
    return form, None, 400


@console_page
@require_http_methods(["GET", "POST"])
def profiles_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    if not access.may_read_profiles(principal):
        raise Http404
    form, made, status = _submitted(
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
    request: HttpRequest, profile: DeviceProfile, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """A profile: the properties its devices inherit (its own and its base profiles'), the
    devices made from it, its settings form."""
    devices = Plug.objects.filter(profile=profile).order_by("name", "id").only("id", "name", "connected")
    context = {
        "profile": profile,
        "declared": sorted(effective_properties(profile).values(), key=lambda p: p.name.lower()),
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


# --- apps ----------------------------------------------------------------------------------------


@console_page
@require_GET
def apps_page(request: HttpRequest) -> HttpResponse:
    """Apps (controller plugs) and the devices plugged into them: two queries for the page."""
    principal = _principal(request)
    reach = access.management_reach(principal, Plug.Kind.CONTROLLER)
    apps = Plug.objects.filter(account_id=principal.account_id, kind=Plug.Kind.CONTROLLER)
    if not reach.everything:
        apps = apps.filter(id__in=reach.ids)
    rows = list(apps.annotate(devices=Count("control_of")).order_by("name", "id")[:LISTED])
    plugged: dict[str, list[Plug]] = {a.id: [] for a in rows}
    links = Control.objects.filter(controller_id__in=plugged).select_related("thing").order_by("thing__name")
    for link in links.only("controller_id", "thing__id", "thing__name", "thing__connected"):
        if len(plugged[link.controller_id]) < APP_DEVICES:
            plugged[link.controller_id].append(link.thing)
    context = {"apps": [(a, plugged[a.id]) for a in rows], "section": "apps"}
    return render(request, "console/apps.html", context)


# --- users ---------------------------------------------------------------------------------------


@console_page
@require_http_methods(["GET", "POST"])
def users_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    if not access.may_manage_users(principal):
        raise Http404
    form, created, status = _submitted(
        request,
        UserCreateForm,
        lambda data: user_create(
            principal=principal, email=data["email"], role=data["role"], name=data["name"]
        ),
    )
    return _users(request, principal, form=form, created=created, status=status)


def _users(request: HttpRequest, principal: Principal, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "users": list(users_of(principal=principal)[:LISTED]),
        "roles": ROLES,
        "form": UserCreateForm(),
        "section": "users",
        **extra,
    }
    return render(request, "console/users.html", context, status=status)


@console_page
@require_POST
def user_change_page(request: HttpRequest, user_id: str) -> HttpResponse:
    """A user's role, or their removal (`delete` in the form)."""
    principal = _principal(request)
    user = user_resolve(principal=principal, user_id=user_id)  # another account's: the 404 page
    try:
        if request.POST.get("delete"):
            user_delete(principal=principal, user=user)
        else:
            user_update(principal=principal, user=user, role=request.POST.get("role"))
    except PlugError as exc:
        return _users(request, principal, error=str(exc.detail), status=exc.status_code)
    return redirect("console:users")


# --- sub-accounts --------------------------------------------------------------------------------


@console_page
@require_http_methods(["GET", "POST"])
def subaccounts_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    if not access.may_read_subaccounts(principal):
        raise Http404
    form, created, status = _submitted(
        request,
        SubaccountCreateForm,
        lambda data: subaccount_create(
            principal=principal, name=data["name"], admin_email=data["admin_email"] or None
        ),
    )
    rows = subaccounts_of(principal=principal).annotate(devices=Count("plugs"))[:LISTED]
    context = {
        "subaccounts": rows,
        "form": form,
        "created": created,
        "may_create": access.may_manage_subaccounts(principal),
        "section": "subaccounts",
    }
    return render(request, "console/subaccounts.html", context, status=status)


@console_page
@require_POST
def subaccount_open_page(request: HttpRequest, account_id: str) -> HttpResponse:
    """The console acts in the sub-account until `subaccount_leave_page` (or sign-out)."""
    if not subaccount_open(request, _principal(request), account_id):
        raise Http404
    return redirect("console:home")


@require_POST
def subaccount_leave_page(request: HttpRequest) -> HttpResponse:
    subaccount_leave(request)
    return redirect("console:subaccounts")
