"""The console's pages for what the v3 management API manages besides plugs (SPEC §6 "Fleets"):
apps, users and sub-accounts (device profiles: `plugboard.console.profiles`). Each list,
create, change and delete goes through the service the API calls (`plugboard.accounts.services`),
which asks `devices.access`; a refusal is the service's message on the page, never a second
spelling of its rule here. Reads start from the signed-in account (`devices.selectors`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from devices import access
from devices.models import Control, Plug
from devices.selectors import subaccounts_of, user_resolve, users_of
from devices.services.fields import PlugError
from plugboard.accounts.services import ROLES, subaccount_create, user_create, user_delete, user_update
from plugboard.console.forms import submitted
from plugboard.console.session import console_page, subaccount_leave, subaccount_open
from plugboard.principals import Principal

LISTED = 200  # rows a fleet page lists (an account has tens of profiles and users, not thousands)
APP_DEVICES = 10  # devices named per app on the apps page (the count says how many in all)


def _principal(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined, no-any-return]


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
    form, created, status = submitted(
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
    form, created, status = submitted(
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
