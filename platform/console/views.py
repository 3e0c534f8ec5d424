"""The console's pages (SPEC §9). Views only translate: forms in, the same services and selectors
every dialect uses, templates out. "Who may" is `devices.access`'s answer; writes of data go
through `data.services.points_write` with journal source `console`.

Another account's plug, key or channel is a 404 page, exactly like one that does not exist.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts.selectors import alerts_applying, incident_lookup, incidents_of
from alerts.services import incident_ack, incident_clear
from data.aggregation import MAX_LIMIT, Aggregator, PointQuery, query_series
from data.export import export_format, export_response, series_chunks
from data.models import JournalEntry
from data.property_reads import property_points
from data.rollups import MINUTE, rollup_sampling
from data.selectors import PointFilter, channels_read, points_read
from data.services import PointIn, points_write
from devices import access
from devices.models import Plug, Property
from devices.selectors import property_resolve
from devices.services.fields import PlugError
from devices.services.management import property_update
from devices.services.plugs import device_key_regenerate, plug_create, plug_update
from outbound.connectors import connectors_with_status
from plugboard.console import selectors
from plugboard.console.forms import (
    WINDOW_CHOICES,
    AccountSearchForm,
    ChannelSearchForm,
    ChartForm,
    CommandForm,
    PlugCreateForm,
    PlugSearchForm,
    PropertyForm,
    SignInForm,
    StaffSignInForm,
)
from plugboard.console.session import (
    SignInRefused,
    console_page,
    open_account,
    safe_next,
    session_principal,
    sign_in,
    sign_out,
    staff_page,
    staff_sign_in,
)
from plugboard.errors import ApiError
from plugboard.principals import Principal
from plugboard.ratelimits import TooManyFailures
from plugboard.timestamps import now_ms

SOURCE = JournalEntry.Source.CONSOLE
# A chart draws at most this many points; a window holding more is averaged into as many buckets.
CHART_POINTS = 600
CHART_ALSO = 3  # properties drawn beside the chosen one, at most
AVERAGED_POINTS = 20_000  # past this many points in the window the chart samples, not averages


def _principal(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined, no-any-return]


# --- signing in and out --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_in_page(request: HttpRequest) -> HttpResponse:
    target = safe_next(request, request.POST.get("next") or request.GET.get("next"), reverse("console:home"))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            sign_in(request, email=form.cleaned_data["email"], password=form.cleaned_data["password"])
            return redirect(target)
        except TooManyFailures:
            form.add_error(None, "Too many failed attempts from this address; retry in a minute.")
            status = 429
        except SignInRefused:
            form.add_error(None, "Wrong email or master password.")
            status = 401
    return render(request, "console/sign_in.html", {"form": form, "next": target}, status=status)


@require_http_methods(["GET", "POST"])
def staff_sign_in_page(request: HttpRequest) -> HttpResponse:
    """A Django staff user's sign-in; the account picker comes next."""
    picker = reverse("console:accounts")
    target = safe_next(request, request.POST.get("next") or request.GET.get("next"), picker)
    form = StaffSignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            staff_sign_in(
                request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
            return redirect(f"{picker}?{urlencode({'next': target})}" if target != picker else picker)
        except TooManyFailures:
            form.add_error(None, "Too many failed attempts from this address; retry in a minute.")
            status = 429
        except SignInRefused:
            form.add_error(None, "Wrong username or password, or not a staff user.")
            status = 401
    elif request.method == "POST":
        status = 400
    context = {"form": form, "next": target, "staff": True}
    return render(request, "console/sign_in.html", context, status=status)


@staff_page
@require_http_methods(["GET", "POST"])
def accounts_page(request: HttpRequest) -> HttpResponse:
    """Staff only: pick the account to open (every console page then shows that account)."""
    target = safe_next(request, request.POST.get("next") or request.GET.get("next"), reverse("console:home"))
    if request.method == "POST":
        if open_account(request, request.POST.get("account", "")):
            return redirect(target)
        return render(request, "console/not_found.html", status=404)
    search = AccountSearchForm(request.GET)
    search.is_valid()
    query = search.cleaned_data.get("q") or ""
    page = selectors.accounts_page(query=query, after=search.cleaned_data.get("after") or None)
    next_url = None
    if page.more:
        next_url = "?" + urlencode(
            {"q": query, "after": selectors.account_cursor(page.items[-1]), "next": target}
        )
    context = {"search": search, "page": page, "next_url": next_url, "next": target, "section": "accounts"}
    return render(request, "console/accounts.html", context)


@require_POST
def sign_out_page(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return redirect("console:sign-in")


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: what this server is and where its doors are (console, API docs, admin, health)."""
    signed_in = session_principal(request.session) is not None
    return render(request, "console/landing.html", {"signed_in": signed_in})


@console_page
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The fleet at a glance; the numbers then move over the page's socket (`console/live/home`)."""
    summary = selectors.fleet_summary(principal=_principal(request), now=now_ms())
    context = {"summary": summary, "section": "home", "live_path": "/console/live/home"}
    return render(request, "console/home.html", context)


# --- plugs ---------------------------------------------------------------------------------------


@console_page
@require_http_methods(["GET", "POST"])
def plugs_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    search = PlugSearchForm(request.GET)
    search.is_valid()
    create = PlugCreateForm(request.POST if request.method == "POST" else None, prefix="new")
    created: dict[str, Any] | None = None
    status = 200
    if request.method == "POST" and create.is_valid():
        if not access.may_enroll_prototype(principal):
            raise Http404
        try:
            enrolled = plug_create(
                account=principal.account_id,
                name=create.cleaned_data["name"],
                kind=create.cleaned_data["kind"],
                hwid=create.cleaned_data["hwid"],
            )
            # Shown in this answer only: the secret is not kept anywhere it could be shown again.
            created = {"plug": enrolled.plug, "auth": enrolled.auth, "key": enrolled.key}
            create = PlugCreateForm(prefix="new")
        except PlugError as exc:
            create.add_error("name", str(exc.detail))
    if request.method == "POST" and created is None:
        status = 400
    page = selectors.plugs_page(
        principal=principal, query=search.cleaned_data.get("q") or "", after=search.cursor()
    )
    next_url = None
    if page.more:
        last = page.items[-1]
        next_url = "?" + urlencode(
            {"q": search.cleaned_data.get("q") or "", "after": f"{last.name}:{last.id}"}
        )
    context = {
        "search": search,
        "create": create,
        "created": created,
        "page": page,
        "next_url": next_url,
        "paged": bool(search.cleaned_data.get("after")),
        "section": "plugs",
        "live_path": "/console/live/",
    }
    return render(request, "console/plugs.html", context, status=status)


def _plug(request: HttpRequest, plug_id: str) -> Plug:
    principal = _principal(request)
    plug = selectors.plug_of_account(principal=principal, plug_id=plug_id)
    if plug is None or not access.may_see_plug(principal, plug):
        raise Http404
    return plug


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def chart_series(*, plug: Plug, channel: str, start: int, end: int) -> dict[str, Any]:
    """The chart's points of one property in `start..end` (ms): raw when the window holds at
    most CHART_POINTS; else up to CHART_POINTS buckets averaged through the property dialect's
    aggregation. Past AVERAGED_POINTS, or buckets of a minute or more, the buckets are whole
    minutes, hours or days, whose true averages the rollups hold (data.rollups): the chart
    never reads more than the range's edges raw."""
    size = selectors.property_series_size(
        plug=plug, channel=channel, start=start, end=end, bound=AVERAGED_POINTS + 1
    )
    bucket = None
    summary = None
    if size > CHART_POINTS:
        bucket = max(1, math.ceil((end - start) / CHART_POINTS))
        if size > AVERAGED_POINTS or bucket >= MINUTE:
            bucket = rollup_sampling(bucket)
        summary = "avg"
        query = PointQuery(start, end, (Aggregator(summary, bucket),), MAX_LIMIT, "asc")
    else:
        query = PointQuery(start, end, (), CHART_POINTS, "asc")
    _, series = query_series(plug=plug, channel=channel, query=query, now=now_ms(), sample_size=False)
    points = [[t, _number(v)] for t, v in series]
    return {
        "property": channel,
        "start": start,
        "end": end,
        "window": end - start,
        "bucket": bucket,
        "summary": summary,
        "points": points,
    }


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


def _commandable(properties: list[Property]) -> list[Property]:
    """The properties the account may command: `devices.access.property_refusal` says which."""
    return [
        p
        for p in properties
        if access.property_refusal(p, as_device=False, of=p.plug_id, name=p.name) is None
    ]


def _plug_context(request: HttpRequest, plug: Plug, **extra: Any) -> dict[str, Any]:
    properties = selectors.plug_properties(plug=plug)
    chart = ChartForm(request.GET)
    chart.is_valid()
    names = [p.prop.name for p in properties]
    chosen = chart.cleaned_data.get("chart") or ""
    if chosen not in names:
        numeric = [p.prop.name for p in properties if _number(p.value) is not None]
        chosen = (numeric or names or [""])[0]
    now = now_ms()
    start, end, window = chart.span(now)
    # A range that ends before now is a still picture: live points do not move it.
    fixed = window == "range" and end < now
    series = chart_series(plug=plug, channel=chosen, start=start, end=end) if chosen else None
    # Other properties drawn on the same chart, over the same window (each read like the first).
    also = [n for n in dict.fromkeys(request.GET.getlist("also")) if n in names and n != chosen]
    also = also[:CHART_ALSO]
    if series is not None:
        series["fixed"] = fixed
        series["relative"] = window != "range"
        keys = ("property", "bucket", "summary", "points")
        series["more"] = [
            {k: v for k, v in chart_series(plug=plug, channel=n, start=start, end=end).items() if k in keys}
            for n in also
        ]
    journal = selectors.plug_journal_page(plug=plug, before=_cursor(request.GET.get("jbefore")))
    log = selectors.plug_log_page(plug=plug, before=_cursor(request.GET.get("lbefore")))
    commandable = _commandable([p.prop for p in properties])
    may_modify = access.may_modify_device(_principal(request), plug)
    property_forms = [(p.prop, _property_form(p.prop)) for p in properties] if may_modify else []
    context = {
        "plug": plug,
        "properties": properties,
        "property_forms": property_forms,
        "chart_form": chart,
        "chart_property": chosen,
        "chart_also": also,
        "chart_points": sum(len(x["points"]) for x in [series, *series["more"]]) if series else 0,
        "chart_window": window,
        "windows": WINDOW_CHOICES,
        "series": series,
        "journal": journal,
        "journal_next": journal.items[-1].id if journal.more else None,
        "log": log,
        "log_next": log.items[-1].id if log.more else None,
        "commands": selectors.plug_commands(plug=plug),
        "command_form": CommandForm(properties=commandable),
        "protected_count": len(properties) - len(commandable),
        "may_administer": access.may_administer_plug(_principal(request), plug),
        "alerts": alerts_applying(plug_id=plug.id, profile_id=plug.profile_id, account_id=plug.account_id),
        # An app's data connectors and their delivery status (a thing has none).
        "connectors": connectors_with_status(app=plug) if plug.kind == Plug.Kind.CONTROLLER else [],
        "incidents": list(incidents_of(principal=_principal(request), device=plug.id, status="open")),
        "live_path": f"/console/live/{plug.id}",
        "section": "plugs",
    }
    context.update(extra)
    return context


@console_page
@require_GET
def plug_page(request: HttpRequest, plug_id: str) -> HttpResponse:
    plug = _plug(request, plug_id)
    context = _plug_context(request, plug)
    status = 400 if context["chart_form"].errors else 200
    return render(request, "console/plug.html", context, status=status)


@console_page
@require_GET
def plug_export(request: HttpRequest, plug_id: str) -> HttpResponseBase:
    """The plug page's download: a property's whole series as CSV or NDJSON, streamed (the
    same export as the property dialect's `…/export`)."""
    plug = _plug(request, plug_id)
    try:
        prop = property_resolve(plug=plug, ref=request.GET.get("property", ""))
        fmt = export_format(request.GET.get("format"), "csv")
    except (ApiError, ValueError):
        raise Http404
    points = property_points(plug=plug, channel=prop.name)
    return export_response(series_chunks(points, fmt), fmt, f"{plug.id}-{prop.name}")


def _property_form(prop: Property, data: Any = None) -> PropertyForm:
    initial = {f: getattr(prop, f) for f in ("type", "access", "publish", "min", "max", "retention")}
    return PropertyForm(data, initial=initial, prefix=f"prop-{prop.id}")


@console_page
@require_POST
def property_settings(request: HttpRequest, plug_id: str, prop_id: str) -> HttpResponse:
    """A property's type, access, publish, boundaries and retention, changed through the
    management service (`property_update`: the same rules as the v3 API's PUT)."""
    plug = _plug(request, plug_id)
    prop = selectors.plug_property(plug=plug, prop_id=prop_id)
    if prop is None:
        raise Http404
    form = _property_form(prop, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            property_update(
                principal=_principal(request),
                prop=prop,
                **{f: data[f] for f in ("type", "access", "publish", "min", "max", "retention")},
            )
            return redirect(f"{reverse('console:plug', args=[plug.id])}#settings")
        except PlugError as exc:
            if exc.status_code == 404:
                raise Http404 from exc
            form.add_error(None, str(exc.detail))
    context = _plug_context(request, plug)
    context["property_forms"] = [(p, form if p.id == prop.id else f) for p, f in context["property_forms"]]
    return render(request, "console/plug.html", context, status=400)


@console_page
@require_POST
def plug_status(request: HttpRequest, plug_id: str) -> HttpResponse:
    """Debug on/off, disable/enable: the account's to change (`plug_update` asks `devices.access`)."""
    plug = _plug(request, plug_id)
    status = request.POST.get("status", "")
    try:
        plug_update(principal=_principal(request), plug=plug, status=status)
    except PlugError as exc:
        plug.refresh_from_db()
        return render(
            request, "console/plug.html", _plug_context(request, plug, error=str(exc.detail)), status=400
        )
    return redirect("console:plug", plug_id=plug.id)


@console_page
@require_POST
def plug_key(request: HttpRequest, plug_id: str) -> HttpResponse:
    """A new device key secret, shown in this answer only; the old one stops working at once."""
    plug = _plug(request, plug_id)
    if not access.may_read_device_key(_principal(request), plug):
        raise Http404
    key, secret = device_key_regenerate(plug=plug)
    return render(request, "console/plug.html", _plug_context(request, plug, new_secret=(key, secret)))


@console_page
@require_POST
def plug_command(request: HttpRequest, plug_id: str) -> HttpResponse:
    """A command: a write into the device's property by the account, through the one write service
    (stored, journalled with source `console`, then created and pushed like any other)."""
    plug = _plug(request, plug_id)
    properties = _commandable([p.prop for p in selectors.plug_properties(plug=plug)])
    form = CommandForm(request.POST, properties=properties)
    if form.is_valid():
        prop = next(p for p in properties if p.id == form.cleaned_data["property"])
        point = PointIn(channel=prop.name, data=form.cleaned_data["value"], of=plug.id)
        result = points_write(
            principal=_principal(request), points=[point], source=SOURCE, property_write=True
        )[0]
        if result.ok:
            return redirect("console:plug", plug_id=plug.id)
        form.add_error(None, result.message or result.code)
    context = _plug_context(request, plug)
    context["command_form"] = form
    return render(request, "console/plug.html", context, status=400)


# --- channels ------------------------------------------------------------------------------------


@console_page
@require_GET
def channels_page(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    form = ChannelSearchForm(request.GET)
    records: list[dict[str, Any]] = []
    channels: list[str] = []
    page, more = 1, False
    if form.is_valid():
        filters = PointFilter(mask=form.cleaned_data["mask"])
        page = form.cleaned_data.get("page") or 1
        size = selectors.PAGE
        rows = points_read(principal=principal, filters=filters, offset=(page - 1) * size, limit=size + 1)
        records, more = rows[:size], len(rows) > size
        channels = channels_read(principal=principal, filters=filters, limit=200)
    mask = form.cleaned_data.get("mask", "#") if form.is_bound and form.is_valid() else "#"
    context = {
        "form": form,
        "records": records,
        "channels": channels,
        "page": page,
        "prev_url": "?" + urlencode({"mask": mask, "page": page - 1}) if page > 1 else None,
        "next_url": "?" + urlencode({"mask": mask, "page": page + 1}) if more else None,
        "section": "channels",
        "live_path": "/console/live/",
    }
    return render(request, "console/channels.html", context, status=200 if form.is_valid() else 400)


# --- incidents (SPEC §12) ----------------------------------------------------------------------

INCIDENTS_SHOWN = 200


@console_page
@require_GET
def incidents_page(request: HttpRequest) -> HttpResponse:
    """The account's open incidents (or `?status=cleared`, the last ones); new ones and their
    changes arrive over the page's socket."""
    status = (
        request.GET.get("status") if request.GET.get("status") in ("cleared", "ack", "active") else "open"
    )
    rows = incidents_of(principal=_principal(request), status=status)[:INCIDENTS_SHOWN]
    context = {"incidents": rows, "status": status, "section": "incidents", "live_path": "/console/live/"}
    return render(request, "console/incidents.html", context)


@console_page
@require_POST
def incident_action(request: HttpRequest, incident_id: str, action: str) -> HttpResponse:
    """Acknowledge or clear an incident, then back to the page the button was on."""
    principal = _principal(request)
    try:
        incident = incident_lookup(principal=principal, incident_id=incident_id)
    except ApiError:
        raise Http404("no such incident") from None
    if action == "ack":
        incident_ack(principal=principal, incident=incident)
    elif action == "clear":
        incident_clear(principal=principal, incident=incident)
    else:
        raise Http404("no such action")
    return redirect(safe_next(request, request.POST.get("next"), reverse("console:incidents")))
