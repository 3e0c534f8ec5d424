"""Who is calling: presented credentials verified into a `Principal` (SPEC §3, §7).

Every form costs one indexed query. Generated secrets are compared by keyed digest; the
master password's PBKDF2 check is remembered for a short while (keyed by a digest of the
presented credential and bound to the stored hash, so a password change invalidates it).
HTTP (`plugboard.authentication`) and MQTT CONNECT (`verify_mqtt`) both verify here; what a
verified caller may then do is `devices.access`'s question.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models
from rest_framework import exceptions

from devices import access, credential_cache
from devices.models import Plug
from devices.selectors import account_is_descendant, plug_accounts, plug_by_id
from plugboard.credentials import digests_equal, secret_digest
from plugboard.identifiers import is_plug_id
from plugboard.models import Account, ApiKey, User
from plugboard.principals import Principal
from plugboard.ratelimits import record_key_failure


class Forbidden(exceptions.PermissionDenied):
    pass


@dataclass(frozen=True)
class Credentials:
    """A credential as presented, before verification."""

    form: str  # email | plug | key
    ident: str
    secret: str
    master: bool = False  # the secret is the account's master password


def _master_ok(account: Account, secret: str, ident: str) -> bool:
    """PBKDF2 once, then a cached yes bound to the stored hash for AUTH_CACHE_SECONDS."""
    key = "authok:" + secret_digest(f"{account.id}|{ident}|{secret}")
    remembered = cache.get(key)
    if remembered is not None and digests_equal(remembered, secret_digest(account.password)):
        return True
    if not account.check_password(secret):
        return False
    cache.set(key, secret_digest(account.password), int(settings.PLUGBOARD["AUTH_CACHE_SECONDS"]))
    return True


@dataclass(frozen=True)
class _PlugRow:
    """What verification needs of a plug."""

    id: str
    account_id: str
    status: str

    @property
    def is_disabled(self) -> bool:
        return self.status == Plug.Status.DISABLED


@dataclass(frozen=True)
class _KeyRow:
    """What verification needs of a key, its account, its user and its plug: one row of one
    hand-written query. Every request and every CONNECT verifies a key; the ORM spent about
    ten times the CPU of the query itself compiling the four-table select (bench/command_latency.py)."""

    id: str
    account_id: str
    kind: str
    plug_id: str | None
    context_type: str
    context_ids: list[str]
    scope: list[str]
    rate_limit: int
    secret_digest: str
    account_active: bool
    user_active: bool | None  # None: not a user key
    user_role: str | None
    plug: _PlugRow | None


@functools.cache
def _key_rows_sql() -> str:
    key, account, user = ApiKey._meta.db_table, Account._meta.db_table, User._meta.db_table
    plug = Plug._meta.db_table
    return (
        "SELECT k.id, k.account_id, k.kind, k.plug_id, k.context_type, k.context_ids, k.scope,"
        " k.rate_limit, k.secret_digest, a.is_active, u.is_active, u.role, p.account_id, p.status"
        f" FROM {key} k JOIN {account} a ON a.id = k.account_id"
        f" LEFT JOIN {user} u ON u.id = k.user_id LEFT JOIN {plug} p ON p.id = k.plug_id WHERE "
    )


def _key_row(where: str, params: list[str]) -> _KeyRow | None:
    with connection.cursor() as cursor:
        cursor.execute(_key_rows_sql() + where, params)
        row = cursor.fetchone()
    if row is None:
        return None
    id_, account_id, kind, plug_id, context_type, context_ids, scope, rate_limit, digest = row[:9]
    a_active, u_active, u_role, p_account, p_status = row[9:]
    # The JSON columns come back as text (SQLite; psycopg as Django configures it), or decoded.
    context_ids, scope = (json.loads(v) if isinstance(v, str | bytes) else v for v in (context_ids, scope))
    return _KeyRow(
        id=id_,
        account_id=account_id,
        kind=kind,
        plug_id=plug_id,
        context_type=context_type,
        context_ids=list(context_ids or ()),
        scope=list(scope or ()),
        rate_limit=int(rate_limit),
        secret_digest=digest,
        account_active=bool(a_active),
        user_active=None if u_active is None else bool(u_active),
        user_role=u_role,
        plug=_PlugRow(plug_id, p_account, p_status) if plug_id and p_account is not None else None,
    )


def _plug_principal(
    plug: Plug | _PlugRow, credential: str, key: _KeyRow | None = None, rate_limit: int = 0
) -> Principal:
    if plug.is_disabled:
        raise Forbidden("plug is disabled")
    plug_ids: tuple[str, ...] = (plug.id,)
    if key is not None and key.context_ids:
        plug_ids = tuple(dict.fromkeys([plug.id, *key.context_ids]))
    return Principal(
        account_id=plug.account_id,
        kind="plug",
        credential=credential,
        plug_id=plug.id,
        key_id=key.id if key else None,
        plug_ids=plug_ids,
        context_type="device",
        context_ids=plug_ids,
        rate_limit=key.rate_limit if key else rate_limit,
    )


def _key_principal(key: _KeyRow) -> Principal:
    role = key.user_role
    if key.kind == ApiKey.Kind.USER and role is not None and not access.role_is_account(role):
        # A developer's or viewer's key: an account-wide API client with the role's scopes.
        return Principal(
            account_id=key.account_id,
            kind="apiclient",
            credential=key.id,
            key_id=key.id,
            context_type=ApiKey.ContextType.ACCOUNT,
            scope=tuple(s.value for s in access.ROLE_SCOPES[role]),
            rate_limit=key.rate_limit,
        )
    if key.kind == ApiKey.Kind.USER:
        return Principal(
            account_id=key.account_id,
            kind="account",
            credential=key.id,
            key_id=key.id,
            rate_limit=key.rate_limit,
        )
    if key.kind == ApiKey.Kind.DEVICE:
        assert key.plug is not None
        return _plug_principal(key.plug, key.id, key)
    ids = tuple(key.context_ids)
    if key.context_type == ApiKey.ContextType.APP and key.plug_id:
        ids = (key.plug_id, *ids)
    return Principal(
        account_id=key.account_id,
        kind="apiclient",
        credential=key.id,
        key_id=key.id,
        plug_id=key.plug_id,
        context_type=key.context_type,
        context_ids=ids,
        scope=tuple(key.scope),
        rate_limit=key.rate_limit,
    )


def verify(creds: Credentials) -> Principal | None:
    """The principal behind verified credentials, or None. Raises Forbidden for a disabled plug.

    A key secret a `serve` process verified lately is answered from its memory
    (`devices.credential_cache`, forgotten everywhere when credentials change)."""
    if "\x00" in creds.ident or "\x00" in creds.secret:  # no credential holds one; PostgreSQL refuses it
        return None
    if creds.master:
        return _verify(creds)
    key = credential_cache.cache_key(creds.form, creds.ident, creds.secret)
    principal = credential_cache.remembered(key)
    if principal is None:
        started_under = credential_cache.generation()
        principal = _verify(creds)
        if principal is not None:
            credential_cache.remember(key, principal, started_under)
    return principal


def _verify(creds: Credentials) -> Principal | None:
    if creds.form == "email":
        account = Account.objects.filter(email__iexact=creds.ident, is_active=True).first()
        if account and _master_ok(account, creds.secret, creds.ident.lower()):
            return Principal(account_id=account.id, kind="account", credential=account.email or account.id)
        return None
    if creds.form == "key":
        key = _key_row("k.id = %s", [creds.ident])
        if key is None or not key.account_active or key.user_active is False:
            return None
        if not digests_equal(key.secret_digest, secret_digest(creds.secret)):
            return None
        return _key_principal(key)
    if creds.master:
        plug = Plug.objects.select_related("account").filter(id=creds.ident).first()
        if plug is None or not plug.account.is_active:
            return None
        return _plug_principal(plug, plug.id) if _master_ok(plug.account, creds.secret, plug.id) else None
    # A plug's own auth is its device key's secret: one indexed look-up verifies and loads it.
    key = _key_row("k.secret_digest = %s AND k.kind = %s", [secret_digest(creds.secret), ApiKey.Kind.DEVICE])
    if key is None or key.plug is None or not key.account_active:
        return None
    if key.plug_id == creds.ident:
        return _plug_principal(key.plug, key.plug.id, rate_limit=key.rate_limit)
    if creds.ident in key.context_ids:  # a gateway key acting for one of its devices
        plug = plug_by_id(account_id=key.account_id, plug_id=creds.ident)
        return _plug_principal(plug, plug.id, key) if plug else None
    return None


def principal_in_account(principal: Principal, acc: str | None) -> Principal:
    """Who `principal` is under `/v3/accounts/{acc}/…`: itself in its own account (or `_this_`),
    the same caller acting in `acc` when `acc` is a descendant of its account and
    `devices.access` lets it act there. Anything else stays the caller, whose account `acc` is
    not: the view answers 404, as for an account that does not exist."""
    if acc is None or principal.names_own_account(acc) or principal.is_plug:
        return principal
    if not account_is_descendant(account_id=acc, ancestor_id=principal.account_id):
        return principal
    return access.in_subaccount(principal, acc) or principal


# --- MQTT CONNECT (SPEC §7) ----------------------------------------------------------------------

CONNACK_BAD_CREDENTIALS = 0x04
CONNACK_NOT_AUTHORIZED = 0x05
# The longest client id (SPEC §7, README): no plug name (64) or hwid (128) is longer, and a
# persistent session (commands.models.MqttSession) keeps no longer one.
MAX_CLIENT_ID = 128


def verify_mqtt(
    client_id: str, username: str | None, password: bytes | None, *, peer: str = "unknown"
) -> tuple[Principal, str | None] | int:
    """`_verify_mqtt`, with wrong secrets counted per (username, address) like HTTP's key
    secrets (past the budget 0x05). A CONNECT's password is always a key's secret, which cannot
    be guessed: a right one is accepted whatever failed before from the address."""
    verdict = _verify_mqtt(client_id, username, password)
    if verdict == CONNACK_BAD_CREDENTIALS and record_key_failure(peer, username or ""):
        return CONNACK_NOT_AUTHORIZED
    return verdict


def _verify_mqtt(
    client_id: str, username: str | None, password: bytes | None
) -> tuple[Principal, str | None] | int:
    """The principal and its plug id for a CONNECT, or the CONNACK refusal code.

    Username: a key id (`_key_…`) or a plug id; password: the secret. The client id names the
    plug (its id, name or hwid): it must be the key's plug, one a gateway key lists, or — for
    API client and user keys — anything (they act for the account, not as a plug) except
    another account's plug id.
    """
    if not username or password is None:
        return CONNACK_BAD_CREDENTIALS
    try:
        secret = password.decode()
    except UnicodeDecodeError:
        return CONNACK_BAD_CREDENTIALS
    form = "key" if username.startswith("_key_") else "plug"
    try:
        principal = verify(Credentials(form, username, secret))
    except exceptions.PermissionDenied:  # a disabled plug
        return CONNACK_NOT_AUTHORIZED
    if principal is None:
        return CONNACK_BAD_CREDENTIALS
    if len(client_id) > MAX_CLIENT_ID:  # (and SQLite refuses so long a LIKE in the name look-up)
        return CONNACK_NOT_AUTHORIZED
    if not principal.is_plug:
        # Sessions belong to an account (SPEC §7): another account's plug id is refused. A name
        # or hwid is unique only within an account, so it stays a free-form client id.
        owner = plug_accounts(plug_ids=[client_id]).get(client_id) if is_plug_id(client_id) else None
        if not access.mqtt_may_take_client_id(principal, owner):
            return CONNACK_NOT_AUTHORIZED
        return principal, None
    candidates = principal.plug_ids or ((principal.plug_id,) if principal.plug_id else ())
    if client_id in candidates:
        return principal, client_id
    match = (
        Plug.objects.filter(id__in=candidates, account_id=principal.account_id)
        .filter(models.Q(name__iexact=client_id) | models.Q(hwid=client_id))
        .values_list("id", "status")
        .first()
    )
    if match is None:
        return CONNACK_NOT_AUTHORIZED
    if match[1] == Plug.Status.DISABLED:
        return CONNACK_NOT_AUTHORIZED
    return principal, match[0]
