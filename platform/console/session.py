"""Who is signed in to the console: an account, kept in the Django session.

Sign-in verifies the account's email and master password through `devices.identity.verify`,
exactly as the API's `X-Plug-Email` + `X-Plug-Master` pair is verified, with failed attempts
counted by `plugboard.ratelimits` like the API's. The session keeps the account id and a keyed
digest of its stored password hash, so changing the password (or deactivating the account)
signs every console session out.

A Django staff user (`devices.access.may_open_any_account`) signs in with their own username
and password instead and then opens any account (the account picker, or `?account=` on any
page): the session keeps the user's id and a digest of *their* password hash, and the account
chosen; the journal credits the writes to `staff:<username>`. A staff user already signed in to
the admin (the same Django session) is not asked again: the first console page they open
starts the console's staff session from the admin's (`admin_staff_adopt`) and shows the
account picker. Signing out of the console ends the whole session, the admin's included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from devices import access
from devices.identity import Credentials, Forbidden, verify
from devices.selectors import account_is_descendant
from plugboard.errors import ApiError
from plugboard.models import Account
from plugboard.principals import Principal
from plugboard.ratelimits import check_failure_budget, client_address, record_failure

SESSION_ACCOUNT = "console.account"
SESSION_PROOF = "console.proof"
SESSION_STAFF = "console.staff"
SESSION_STAFF_PROOF = "console.staff_proof"
SESSION_SUBACCOUNT = "console.subaccount"  # a master session acting in one of its sub-accounts


class SignInRefused(Exception):
    pass


def _proof(holder: Account | AbstractBaseUser) -> str:
    return salted_hmac("plugboard.console.session", holder.password).hexdigest()


def account_principal(account: Account) -> Principal:
    """The account as the caller of every service a console page uses (full rights)."""
    return Principal(account_id=account.id, kind="account", credential=account.email or account.id)


def sign_in(request: HttpRequest, *, email: str, password: str) -> Principal:
    """Verify the credentials and start a console session (a new session key: no fixation).

    Raises `TooManyFailures` past the failure budget, `SignInRefused` for wrong credentials."""
    client = client_address(request)
    check_failure_budget(client)
    try:
        principal = verify(Credentials("email", email.strip(), password, master=True))
    except Forbidden:
        principal = None
    if principal is None or not access.may_use_console(principal):
        record_failure(client)
        raise SignInRefused()
    account = Account.objects.get(id=principal.account_id)
    request.session.cycle_key()
    for key in (SESSION_STAFF, SESSION_STAFF_PROOF):
        request.session.pop(key, None)
    request.session[SESSION_ACCOUNT] = account.id
    request.session[SESSION_PROOF] = _proof(account)
    return principal


def staff_sign_in(request: HttpRequest, *, username: str, password: str) -> str:
    """Verify a Django staff user and start a console session with no account open yet.

    Raises `TooManyFailures` past the failure budget, `SignInRefused` otherwise."""
    client = client_address(request)
    check_failure_budget(client)
    user = authenticate(request, username=username.strip(), password=password)
    if user is None or not access.may_open_any_account(user):  # type: ignore[arg-type]
        record_failure(client)
        raise SignInRefused()
    request.session.cycle_key()
    for key in (SESSION_ACCOUNT, SESSION_PROOF):
        request.session.pop(key, None)
    request.session[SESSION_STAFF] = str(user.pk)
    request.session[SESSION_STAFF_PROOF] = _proof(user)  # type: ignore[arg-type]
    return user.get_username()


def admin_staff_adopt(request: HttpRequest) -> bool:
    """Start the console's staff session for a staff user signed in to the admin in this
    session (Django's `request.user`, its session hash checked by Django); True if it did."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not access.may_open_any_account(user):
        return False
    if request.session.get(SESSION_ACCOUNT) and request.session.get(SESSION_PROOF):
        return False  # signed in to the console as an account: that sign-in stands
    request.session[SESSION_STAFF] = str(user.pk)
    request.session[SESSION_STAFF_PROOF] = _proof(user)
    return True


def open_account(request: HttpRequest, account_id: str) -> bool:
    """A staff session opens `account_id` (False: no such active account; nothing changes)."""
    if staff_user(request.session) is None:
        return False
    if not Account.objects.filter(id=account_id, is_active=True).exists():
        return False
    request.session[SESSION_ACCOUNT] = account_id
    return True


def sign_out(request: HttpRequest) -> None:
    request.session.flush()


def staff_user(session: Mapping[str, Any]) -> AbstractBaseUser | None:
    """The signed-in staff user of a session, or None (none, no longer staff, password changed)."""
    user_id, proof = session.get(SESSION_STAFF), session.get(SESSION_STAFF_PROOF)
    if not user_id or not proof:
        return None
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not access.may_open_any_account(user):
        return None
    return user if constant_time_compare(proof, _proof(user)) else None


def session_principal(session: Mapping[str, Any]) -> Principal | None:
    """The signed-in account of a session, or None (no sign-in, or the password changed since)."""
    return console_session(session)[0]


def console_session(session: Mapping[str, Any]) -> tuple[Principal | None, str | None]:
    """The account a session acts as (None: none yet) and the staff username behind it, if any."""
    account_id = session.get(SESSION_ACCOUNT)
    if session.get(SESSION_STAFF):
        user = staff_user(session)
        if user is None:
            return None, None
        name = user.get_username()
        account = Account.objects.filter(id=account_id, is_active=True).first() if account_id else None
        if account is None:
            return None, name
        return Principal(account_id=account.id, kind="account", credential=f"staff:{name}"), name
    proof = session.get(SESSION_PROOF)
    if not account_id or not proof:
        return None, None
    account = Account.objects.filter(id=account_id, is_active=True).first()
    if account is None or not constant_time_compare(proof, _proof(account)):
        return None, None
    principal = account_principal(account)
    sub = session.get(SESSION_SUBACCOUNT)
    if sub and account_is_descendant(account_id=sub, ancestor_id=account.id):
        return access.in_subaccount(principal, sub), None
    return principal, None


def subaccount_open(request: HttpRequest, principal: Principal, subaccount_id: str) -> bool:
    """Act in `subaccount_id`, a sub-account of the account the session acts in (False: it is
    none, or `devices.access` says no). A staff session simply opens it like any account; an
    account's session keeps its own sign-in and acts there as `access.in_subaccount` says."""
    if not account_is_descendant(account_id=subaccount_id, ancestor_id=principal.account_id):
        return False
    if staff_user(request.session) is not None:
        return open_account(request, subaccount_id)
    if access.in_subaccount(principal, subaccount_id) is None or not access.may_manage_subaccounts(principal):
        return False
    request.session[SESSION_SUBACCOUNT] = subaccount_id
    return True


def subaccount_leave(request: HttpRequest) -> None:
    """Back to the signed-in account itself."""
    request.session.pop(SESSION_SUBACCOUNT, None)


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


View = Callable[..., HttpResponseBase]


def console_page(view: View) -> View:
    """A console view: signed-in accounts only (others go to the sign-in page), the caller in
    `request.principal`; a 404 (another account's plug, key or channel) is the console's page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        principal, staff = console_session(request.session)
        if principal is None and staff is None and admin_staff_adopt(request):
            principal, staff = console_session(request.session)
        wanted = request.GET.get("account")
        if staff is not None and wanted and request.method == "GET":
            if not open_account(request, wanted):
                return not_found(request)
            rest = request.GET.copy()
            del rest["account"]
            return redirect(request.path + (f"?{rest.urlencode()}" if rest else ""))
        if principal is None:
            if staff is not None:
                return redirect(
                    f"{reverse('console:accounts')}?{urlencode({'next': request.get_full_path()})}"
                )
            return redirect(f"{reverse('console:sign-in')}?{urlencode({'next': request.get_full_path()})}")
        request.principal = principal  # type: ignore[attr-defined]
        request.console_staff = staff  # type: ignore[attr-defined]
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return not_found(request)
        except ApiError as exc:
            if exc.status_code == 404:
                return not_found(request)
            raise

    return wrapped


def staff_page(view: View) -> View:
    """A page for a signed-in staff user only (the account picker); others go to sign in."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = staff_user(request.session)
        if user is None and admin_staff_adopt(request):
            user = staff_user(request.session)
        if user is None:
            target = f"{reverse('console:staff-sign-in')}?{urlencode({'next': request.get_full_path()})}"
            return redirect(target)
        request.console_staff = user.get_username()  # type: ignore[attr-defined]
        request.principal = console_session(request.session)[0]  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "console/not_found.html", status=404)
