"""Who is signed in to the console: an account, kept in the Django session.

Sign-in verifies the account's email and master password through `devices.identity.verify`,
exactly as the API's `X-Plug-Email` + `X-Plug-Master` pair is verified, with failed attempts
counted by `plugboard.ratelimits` like the API's. The session keeps the account id and a keyed
digest of its stored password hash, so changing the password (or deactivating the account)
signs every console session out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from devices import access
from devices.identity import Credentials, Forbidden, verify
from plugboard.errors import ApiError
from plugboard.models import Account
from plugboard.principals import Principal
from plugboard.ratelimits import check_failure_budget, client_address, record_failure

SESSION_ACCOUNT = "console.account"
SESSION_PROOF = "console.proof"


class SignInRefused(Exception):
    pass


def _proof(account: Account) -> str:
    return salted_hmac("plugboard.console.session", account.password).hexdigest()


def account_principal(account: Account) -> Principal:
    """The account as the caller of every service a console page uses (full rights)."""
    return Principal(account_id=account.id, kind="account", credential=account.email)


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
    request.session[SESSION_ACCOUNT] = account.id
    request.session[SESSION_PROOF] = _proof(account)
    return principal


def sign_out(request: HttpRequest) -> None:
    request.session.flush()


def session_principal(session: Mapping[str, Any]) -> Principal | None:
    """The signed-in account of a session, or None (no sign-in, or the password changed since)."""
    account_id, proof = session.get(SESSION_ACCOUNT), session.get(SESSION_PROOF)
    if not account_id or not proof:
        return None
    account = Account.objects.filter(id=account_id, is_active=True).first()
    if account is None or not constant_time_compare(proof, _proof(account)):
        return None
    return account_principal(account)


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


View = Callable[..., HttpResponse]


def console_page(view: View) -> View:
    """A console view: signed-in accounts only (others go to the sign-in page), the caller in
    `request.principal`; a 404 (another account's plug, key or channel) is the console's page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        principal = session_principal(request.session)
        if principal is None:
            return redirect(f"{reverse('console:sign-in')}?{urlencode({'next': request.get_full_path()})}")
        request.principal = principal  # type: ignore[attr-defined]
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return not_found(request)
        except ApiError as exc:
            if exc.status_code == 404:
                return not_found(request)
            raise

    return wrapped


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "console/not_found.html", status=404)
