"""Account and API key services (writes). Views and commands only call these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models, transaction

from plugboard.credentials import secret_decrypt, secret_digest, secret_encrypt
from plugboard.errors import ApiError
from plugboard.identifiers import new_secret
from plugboard.models import Account, ApiKey
from plugboard.principals import Scope


class AccountExists(Exception):
    pass


def account_create(
    *, email: str, password: str, name: str = "", default_retention: int | None = None
) -> Account:
    """A new tenant. The email is case-insensitive and unique; `default_retention` (seconds)
    is the TTL of its points that have no expiry of their own and no property retention."""
    email = email.strip().lower()
    if Account.objects.filter(email__iexact=email).exists():
        raise AccountExists(email)
    account = Account(email=email, name=name, default_retention=default_retention)
    account.set_password(password)
    account.save()
    return account


def key_create(
    *,
    account: Account | str,
    kind: str,
    plug: models.Model | None = None,  # a devices.Plug: the kernel names no app
    context_type: str | None = None,
    context_ids: Sequence[str] = (),
    scope: Sequence[str] = (),
    name: str = "",
    rate_limit: int = 0,
) -> tuple[ApiKey, str]:
    """A new API key and its secret (shown once; device key secrets stay readable)."""
    account_id = account if isinstance(account, str) else account.id
    secret = new_secret()
    if kind == ApiKey.Kind.DEVICE:
        assert plug is not None, "a device key belongs to a plug"
        context_type = ApiKey.ContextType.DEVICE
        context_ids = list(dict.fromkeys([plug.pk, *context_ids]))
    elif kind == ApiKey.Kind.USER:
        context_type = ApiKey.ContextType.ACCOUNT
    else:
        context_type = context_type or (ApiKey.ContextType.APP if plug else ApiKey.ContextType.ACCOUNT)
    key = ApiKey.objects.create(
        account_id=account_id,
        kind=kind,
        plug_id=plug.pk if plug is not None else None,
        context_type=context_type,
        context_ids=list(context_ids),
        scope=list(scope),
        name=name,
        rate_limit=rate_limit,
        secret_digest=secret_digest(secret),
        secret_encrypted=secret_encrypt(secret) if kind == ApiKey.Kind.DEVICE else "",
    )
    return key, secret


@transaction.atomic
def key_regenerate(*, key: ApiKey) -> str:
    """A new secret for the key; the old one stops working at once."""
    secret = new_secret()
    key.secret_digest = secret_digest(secret)
    key.secret_encrypted = secret_encrypt(secret) if key.kind == ApiKey.Kind.DEVICE else ""
    key.save(update_fields=["secret_digest", "secret_encrypted", "date_modified"])
    return secret


def key_secret(*, key: ApiKey) -> str | None:
    """The readable secret of a device key (None for user and API client keys)."""
    return secret_decrypt(key.secret_encrypted) if key.secret_encrypted else None


# --- property dialect management ---

# The API client scopes of the v3 dialect (Connio's words). `*` grants them all.
# The API client scopes of the v3 dialect (Connio's words). `*` grants them all.
API_SCOPES = frozenset(s.value for s in Scope)
# What an API client key made without naming its scopes may do (`createkey --kind apiclient`,
# `POST /v3/apiclients` without `scope`): read and write data, nothing of management. It is
# written into the key's `scope`, so the key shows it; an empty scope is refused.
APICLIENT_DEFAULT_SCOPE = (Scope.READ_DATA.value, Scope.WRITE_DATA.value)


class KeyRefused(ApiError):
    """An API key request that breaks a rule; the dialects answer 400."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _apiclient_authority(
    scope: Sequence[str], context_type: str, context_ids: Sequence[str], app: models.Model | None
) -> tuple[list[str], str, list[str], models.Model | None]:
    """What an API client may do and where, checked once for create and update: (scope,
    context type, context ids, app), duplicates dropped."""
    if not scope:
        raise KeyRefused("scope must list at least one scope")
    unknown = sorted(set(scope) - API_SCOPES)
    if unknown:
        raise KeyRefused(f"unknown scope {', '.join(unknown)}; known: {', '.join(sorted(API_SCOPES))}")
    if context_type == ApiKey.ContextType.APP:
        if app is None:
            raise KeyRefused("an app context names one app")
        context_ids = ()
    elif context_type == ApiKey.ContextType.DEVICES:
        if not context_ids:
            raise KeyRefused("a devices context lists at least one device")
        app = None
    elif context_type == ApiKey.ContextType.ACCOUNT:
        app, context_ids = None, ()
    elif context_type in (ApiKey.ContextType.PROFILE, ApiKey.ContextType.TEMPLATE):
        if len(context_ids) != 1:
            raise KeyRefused(f"a {context_type} context names exactly one {context_type}")
        if set(scope) != {Scope.PROVISION}:
            raise KeyRefused(
                f"a {context_type} context is a provisioning key: scope is [{Scope.PROVISION.value!r}]"
            )
        app = None
    else:
        raise KeyRefused("context.type must be account, app, devices, deviceprofile or template")
    return list(dict.fromkeys(scope)), context_type, list(dict.fromkeys(context_ids)), app


def apiclient_create(
    *,
    account: Account | str,
    scope: Sequence[str],
    context_type: str = ApiKey.ContextType.ACCOUNT,
    context_ids: Sequence[str] = (),
    app: models.Model | None = None,  # a controller devices.Plug
    name: str = "",
    rate_limit: int = 0,
    friendly_name: str = "",
    description: str = "",
    tags: Sequence[str] = (),
) -> tuple[ApiKey, str]:
    """A new API client key and its secret, which is shown this once and then only hashed.

    `context_type` is `account` (every plug), `app` (the controller `app` and the things it
    controls) or `devices` (the plugs `context_ids`); `scope` lists what it may do there. A
    **provisioning key** has the one scope `device:provision` and a `deviceprofile` or
    `template` context naming the one profile or production template (`context_ids`, checked
    by the caller) it provisions into; `device:provision` in an account context only finds
    devices that exist (SPEC §7 "Zero-touch provisioning").
    """
    scope, context_type, context_ids, app = _apiclient_authority(scope, context_type, context_ids, app)
    if rate_limit < 0:
        raise KeyRefused("rateLimit must be ≥ 0")
    key, secret = key_create(
        account=account,
        kind=ApiKey.Kind.APICLIENT,
        plug=app,
        context_type=context_type,
        context_ids=context_ids,
        scope=scope,
        name=name,
        rate_limit=rate_limit,
    )
    if friendly_name or description or tags:
        key.friendly_name, key.description, key.tags = friendly_name, description, list(dict.fromkeys(tags))
        key.save(update_fields=["friendly_name", "description", "tags"])
    return key, secret


# The fields that say what a key may do and where: changing one ends the key's open MQTT
# sessions (`commands.signals`), since a session's rights were read at CONNECT.
KEY_AUTHORITY_FIELDS = frozenset({"scope", "context_type", "context_ids", "plug"})


def apiclient_update(
    *,
    key: ApiKey,
    name: str | None = None,
    friendly_name: str | None = None,
    description: str | None = None,
    tags: Sequence[str] | None = None,
    scope: Sequence[str] | None = None,
    context: tuple[str, Sequence[str], models.Model | None] | None = None,
    rate_limit: int | None = None,
) -> ApiKey:
    """Change what an API client is called and may do (Connio's `PUT /v3/apiclients/{id}`);
    `None` leaves a field as it is, and the secret never changes here (`key_regenerate`).
    `context` is (type, ids, app) as `apiclient_create` takes them. Only the fields that change
    are saved, so a rename keeps the key's MQTT sessions open and a new scope or context ends
    them."""
    if key.kind != ApiKey.Kind.APICLIENT:
        raise KeyRefused("only an API client key is changed this way")
    context_type, context_ids, app = context or (key.context_type, key.context_ids or [], key.plug)
    new_scope, context_type, context_ids, app = _apiclient_authority(
        key.scope if scope is None else scope, context_type, context_ids, app
    )
    if rate_limit is not None and rate_limit < 0:
        raise KeyRefused("rateLimit must be ≥ 0")
    wanted: dict[str, Any] = {
        "name": name,
        "friendly_name": friendly_name,
        "description": description,
        "tags": None if tags is None else list(dict.fromkeys(tags)),
        "scope": new_scope,
        "context_type": context_type,
        "context_ids": context_ids,
        "rate_limit": rate_limit,
    }
    changed = [f for f, v in wanted.items() if v is not None and getattr(key, f) != v]
    for field in changed:
        setattr(key, field, wanted[field])
    app_id = app.pk if app is not None else None
    if key.plug_id != app_id:
        key.plug_id = app_id
        changed.append("plug")
    if changed:
        key.save(update_fields=[*changed, "date_modified"])
    return key


def key_revoke(*, key: ApiKey) -> None:
    """Delete a key; its secret stops working at once."""
    key.delete()
