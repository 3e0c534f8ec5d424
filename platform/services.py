"""Account and API key services (writes). Views and commands only call these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from plugboard.credentials import secret_decrypt, secret_digest, secret_encrypt
from plugboard.identifiers import new_secret
from plugboard.models import Account, ApiKey

if TYPE_CHECKING:
    from devices.models import Plug


class AccountExists(Exception):
    pass


def account_create(*, email: str, password: str, name: str = "") -> Account:
    """A new tenant. The email is case-insensitive and unique."""
    email = email.strip().lower()
    if Account.objects.filter(email__iexact=email).exists():
        raise AccountExists(email)
    account = Account(email=email, name=name)
    account.set_password(password)
    account.save()
    return account


def key_create(
    *,
    account: Account | str,
    kind: str,
    plug: Plug | None = None,
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
        context_ids = list(dict.fromkeys([plug.id, *context_ids]))
    elif kind == ApiKey.Kind.USER:
        context_type = ApiKey.ContextType.ACCOUNT
    else:
        context_type = context_type or (ApiKey.ContextType.APP if plug else ApiKey.ContextType.ACCOUNT)
    key = ApiKey.objects.create(
        account_id=account_id,
        kind=kind,
        plug=plug,
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
