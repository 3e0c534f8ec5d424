"""The console's keys page (SPEC §9): the account's user keys and API clients, made, changed and
revoked through the services the API calls (`plugboard.services`); a device key is shown and
renewed on its plug's page. Another account's key is a 404 page.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from devices import access
from devices.models import Plug
from plugboard.console import selectors
from plugboard.console.forms import ApiClientEditForm, KeyCreateForm
from plugboard.console.session import console_page
from plugboard.models import ApiKey
from plugboard.principals import Principal
from plugboard.services import KeyRefused, apiclient_create, apiclient_update, key_create, key_revoke


def _principal(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined, no-any-return]


@console_page
@require_http_methods(["GET", "POST"])
def keys_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    if not access.may_manage_keys(principal):
        raise Http404
    form = KeyCreateForm(request.POST if request.method == "POST" else None)
    created: tuple[ApiKey, str] | None = None
    if request.method == "POST" and form.is_valid():
        created = _key_create(principal, form)
        if created is not None:
            form = KeyCreateForm()
    after = request.GET.get("after") or None
    device_keys = selectors.device_keys_page(principal=principal, after=after)
    context = {
        "form": form,
        "created": created,
        "keys": selectors.keys_of_account(principal=principal),
        "device_keys": device_keys,
        "device_keys_next": device_keys.items[-1].id if device_keys.more else None,
        "section": "keys",
        "live_path": "/console/live/",
    }
    status = 400 if request.method == "POST" and created is None else 200
    return render(request, "console/keys.html", context, status=status)


def _key_create(principal: Principal, form: KeyCreateForm) -> tuple[ApiKey, str] | None:
    data = form.cleaned_data
    if data["kind"] == ApiKey.Kind.USER:
        return key_create(account=principal.account_id, kind=ApiKey.Kind.USER, name=data["name"])
    context = _key_context(principal, form)
    if context is None:
        return None
    try:
        return apiclient_create(
            account=principal.account_id,
            scope=data["scope"],
            context_type=context[0],
            context_ids=context[1],
            app=context[2],
            name=data["name"],
        )
    except KeyRefused as exc:
        form.add_error(None, str(exc.detail))
        return None


def _key_context(
    principal: Principal, form: KeyCreateForm | ApiClientEditForm
) -> tuple[str, list[str], Plug | None] | None:
    """The form's context as `plugboard.services` takes it (type, device ids, app), or None
    with the form's error: only the account's own plugs are named."""
    ids = form.plug_ids()
    known = selectors.plugs_by_id(principal=principal, ids=ids)
    unknown = [i for i in ids if i not in known]
    if unknown:  # another account's plug is as unknown as a missing one
        form.add_error("plugs", f"no plug {', '.join(unknown)}")
        return None
    context = form.cleaned_data.get("context") or ApiKey.ContextType.ACCOUNT
    if context == ApiKey.ContextType.APP:
        if not access.is_app_context([known[i] for i in ids]):
            form.add_error("plugs", "an app context names one controller plug")
            return None
        return context, [], known[ids[0]]
    return context, ids if context == ApiKey.ContextType.DEVICES else [], None


@console_page
@require_http_methods(["GET", "POST"])
def key_edit_page(request: HttpRequest, key_id: str) -> HttpResponse:
    """An API client's name, description, scope, context and rate limit (`apiclient_update`,
    the service of `PUT /v3/apiclients/{id}`); its secret stays."""
    principal = _principal(request)
    key = selectors.key_of_account(principal=principal, key_id=key_id)
    if key is None or key.kind != ApiKey.Kind.APICLIENT or not access.may_manage_keys(principal):
        raise Http404
    form = ApiClientEditForm(request.POST, key=key) if request.method == "POST" else ApiClientEditForm.of(key)
    if request.method == "POST" and form.is_valid():
        kept = form.cleaned_data["context"] in ApiClientEditForm.KEPT_CONTEXTS
        context = None if kept else _key_context(principal, form)
        if kept or context is not None:
            data = form.cleaned_data
            try:
                apiclient_update(
                    key=key,
                    name=data["name"],
                    description=data["description"],
                    scope=data["scope"],
                    context=context,
                    rate_limit=data["rate_limit"],
                )
                return redirect("console:keys")
            except KeyRefused as exc:
                form.add_error(None, str(exc.detail))
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "console/key_edit.html",
        {"form": form, "key": key, "section": "keys", "live_path": "/console/live/"},
        status=status,
    )


@console_page
@require_POST
def key_revoke_page(request: HttpRequest, key_id: str) -> HttpResponse:
    principal = _principal(request)
    key = selectors.key_of_account(principal=principal, key_id=key_id)
    if key is None or not access.may_manage_keys(principal):
        raise Http404
    key_revoke(key=key)
    return redirect("console:keys")
