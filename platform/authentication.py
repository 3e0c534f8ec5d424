"""The four HTTP credential forms of SPEC §3, read from headers, as one DRF authentication class.

Verification itself is `devices.identity.verify` (MQTT CONNECT uses it too); failed attempts
and an API key's requests are counted by `plugboard.ratelimits` and answered with 429 past
their limits. A password's budget is checked before it is; a key secret is verified first, and
a right one is never refused for failures (see `plugboard.ratelimits`). Under `/v3/accounts/{acc}/…` the
verified caller may act in one of its sub-accounts (`devices.identity.principal_in_account`);
the view then sees that principal.
"""

from __future__ import annotations

import base64
import binascii

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from devices.identity import Credentials, principal_in_account, verify
from plugboard.principals import Principal
from plugboard.ratelimits import (
    FAILURE_WINDOW,
    TooManyFailures,
    check_failure_budget,
    check_request_rate,
    client_address,
    record_failure,
    record_key_failure,
)


class AuthFailed(exceptions.AuthenticationFailed):
    default_detail = "invalid credentials"


def credentials_from_headers(headers: dict[str, str]) -> Credentials | None:
    email, plug_id = headers.get("x-plug-email"), headers.get("x-plug-id")
    master, auth = headers.get("x-plug-master"), headers.get("x-plug-auth")
    if email and master:
        return Credentials("email", email, master, master=True)
    if plug_id and master:
        return Credentials("plug", plug_id, master, master=True)
    if plug_id and auth:
        return Credentials("plug", plug_id, auth)
    basic = headers.get("authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            user, _, secret = base64.b64decode(basic[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthFailed("malformed Basic credentials")
        if "@" in user:
            return Credentials("email", user, secret, master=True)
        if user.startswith("_key_"):
            return Credentials("key", user, secret)
        return Credentials("plug", user, secret)
    if email or plug_id or master or auth:
        raise AuthFailed("incomplete credentials")
    return None


class PlugCredentialsAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Principal, Credentials] | None:
        creds = credentials_from_headers({k.lower(): v for k, v in request.headers.items()})
        if creds is None:
            return None
        client = client_address(request)
        if creds.master:  # a password: slowed per (email or plug id, address) and per address
            check_failure_budget(client, creds.ident)
            principal = verify(creds)
            if principal is None:
                record_failure(client, creds.ident)
                raise AuthFailed()
        else:  # a key secret, which cannot be guessed: a right one is always accepted
            principal = verify(creds)
            if principal is None:
                if record_key_failure(client, creds.ident):
                    raise TooManyFailures(wait=FAILURE_WINDOW)
                raise AuthFailed()
        check_request_rate(principal)
        match = getattr(request, "resolver_match", None)
        acc = match.kwargs.get("acc") if match is not None else None
        return principal_in_account(principal, acc), creds

    def authenticate_header(self, request: Request) -> str:
        # A 401 names a scheme (without one DRF would answer 403), but not `Basic`: a browser
        # answers a Basic challenge with a sign-in prompt and then sends what was typed with
        # every request to this origin, those of other sites' pages included (a forged write).
        # Clients send Basic credentials unasked, as they always have.
        return 'Plug realm="plugboard"'
