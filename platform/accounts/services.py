"""Users of an account and sub-accounts (SPEC §6 "Fleets"): their writes.

A user is an email, a name and a role; its user key (made with it, its secret shown once)
does what the role allows (`devices.access.ROLE_SCOPES`). A sub-account is a full tenant with a
parent; it is made with its administrator (an admin user and that user's key), has no usable
master password, and is managed by its parent through `/v3/accounts/{sub}/…`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from devices import access
from devices.services.fields import PlugError, tags_field, text_field
from devices.services.management import KEEP
from plugboard.models import Account, ApiKey, User
from plugboard.principals import Principal
from plugboard.services import key_create, key_regenerate

ROLES = tuple(User.Role.values)


@dataclass(frozen=True)
class UserMade:
    """A new user, its user key and the key's secret (shown this once)."""

    user: User
    key: ApiKey
    secret: str


@dataclass(frozen=True)
class SubaccountMade:
    """A new sub-account, its administrator and the administrator's key and secret."""

    account: Account
    admin: UserMade | None  # none when it was made from a name alone


def _email(value: Any, field: str = "email") -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlugError(f"{field} is required: an email address")
    email = value.strip().lower()
    if len(email) > 254:
        raise PlugError(f"{field} must be at most 254 characters")
    try:
        validate_email(email)
    except ValidationError:
        raise PlugError(f"{field} must be an email address, not {value!r}")
    return email


def _role(value: Any) -> str:
    if value not in ROLES:
        raise PlugError(f"role must be one of {', '.join(ROLES)}")
    return str(value)


def _refuse_unless_manager(principal: Principal) -> None:
    if not access.may_manage_users(principal):
        raise PlugError("only the account (master password or an admin's user key) manages users", status=403)


def _user_with_key(*, account: Account | str, email: str, role: str, name: str) -> UserMade:
    account_id = account if isinstance(account, str) else account.id
    if User.objects.filter(account_id=account_id, email__iexact=email).exists():
        raise PlugError(f"the account already has a user {email}", status=409)
    try:
        with transaction.atomic():
            user = User.objects.create(account_id=account_id, email=email, role=role, name=name)
    except IntegrityError:  # the same email at the same moment
        raise PlugError(f"the account already has a user {email}", status=409)
    key, secret = key_create(account=account_id, kind=ApiKey.Kind.USER, name=f"{email} user key")
    key.user = user
    key.save(update_fields=["user"])
    return UserMade(user, key, secret)


@transaction.atomic
def user_create(*, principal: Principal, email: Any, role: Any, name: Any = "") -> UserMade:
    """A user of the caller's account and its user key. The email is unique within the account,
    ignoring case (409); `role` is admin, developer or viewer."""
    _refuse_unless_manager(principal)
    return _user_with_key(
        account=principal.account_id,
        email=_email(email),
        role=_role(role),
        name=text_field(name, "name", 120),
    )


@transaction.atomic
def user_update(
    *,
    principal: Principal,
    user: User,
    email: Any = KEEP,
    name: Any = KEEP,
    role: Any = KEEP,
    is_active: Any = KEEP,
) -> User:
    """Change what is not `KEEP`. A disabled user's key stops working at once; a new role
    applies to its key's next request."""
    _refuse_unless_manager(principal)
    if email is not KEEP:
        user.email = _email(email)
        taken = User.objects.filter(account_id=user.account_id, email__iexact=user.email).exclude(pk=user.pk)
        if taken.exists():
            raise PlugError(f"the account already has a user {user.email}", status=409)
    if name is not KEEP:
        user.name = text_field(name, "name", 120)
    if role is not KEEP:
        user.role = _role(role)
    if is_active is not KEEP:
        user.is_active = bool(is_active)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise PlugError(f"the account already has a user {user.email}", status=409)
    return user


def user_delete(*, principal: Principal, user: User) -> None:
    """Remove a user; its key goes with it (its secret stops working at once)."""
    _refuse_unless_manager(principal)
    user.delete()


@transaction.atomic
def user_key_regenerate(*, principal: Principal, user: User) -> tuple[ApiKey, str]:
    """A new secret for the user's key (a key if it has none); the old one stops working."""
    _refuse_unless_manager(principal)
    key = ApiKey.objects.filter(user=user).first()
    if key is None:
        key, secret = key_create(
            account=user.account_id, kind=ApiKey.Kind.USER, name=f"{user.email} user key"
        )
        key.user = user
        key.save(update_fields=["user"])
        return key, secret
    return key, key_regenerate(key=key)


# An account's email is its sign-in name, unique over every account, so one that is taken cannot
# be given to a new sub-account. The refusal is one answer whoever holds the email — the caller's
# own tree or another tenant — and says only that it is not available, never that it exists or
# where (there is no accept-then-verify by mail to hide even that).
EMAIL_NOT_AVAILABLE = "user.email is not available for a new account; choose another"


@transaction.atomic
def subaccount_create(
    *,
    principal: Principal,
    name: Any,
    admin_email: Any,
    admin_name: Any = "",
    friendly_name: Any = "",
    description: Any = "",
    tags: Sequence[str] | None = None,
    default_retention: int | None = None,
) -> SubaccountMade:
    """A sub-account of the account the caller acts in, with its administrator if `admin_email`
    is given: it becomes the sub-account's email (unique across accounts: 409) and an admin user
    whose key is returned once. Without one (SPEC §6: a name alone makes a sub-account) the
    sub-account has no email and no user. Either way it has no usable master password: it signs
    in with its users' keys, or its parent acts in it."""
    if not access.may_manage_subaccounts(principal):
        raise PlugError("only the account (master password or an admin's user key) creates sub-accounts", 403)
    if not isinstance(name, str) or not name.strip():
        raise PlugError("name is required")
    email = None if admin_email is None else _email(admin_email, "user.email")
    if email is not None and Account.objects.filter(email__iexact=email).exists():
        raise PlugError(EMAIL_NOT_AVAILABLE, status=409)
    account = Account(
        email=email,
        # `make_password(None)`: a hash no password matches (Django's unusable password).
        password=make_password(None),
        name=text_field(name.strip(), "name", 120),
        friendly_name=text_field(friendly_name, "friendlyName", 120),
        description=text_field(description, "description"),
        tags=tags_field(tags),
        parent_id=principal.account_id,
        default_retention=default_retention,
    )
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:  # the same email at the same moment
        raise PlugError(EMAIL_NOT_AVAILABLE, status=409)
    if email is None:
        return SubaccountMade(account, None)
    admin = _user_with_key(
        account=account, email=email, role=User.Role.ADMIN, name=text_field(admin_name, "user.name", 120)
    )
    return SubaccountMade(account, admin)


def account_delete(*, principal: Principal) -> None:
    """Delete the account the caller acts in, with everything it holds (its plugs, keys, users,
    profiles and sub-accounts): only its parent (or an ancestor) may, never the account itself."""
    if not access.may_delete_account(principal):
        raise PlugError("an account is deleted by its parent account, not by itself", status=403)
    Account.objects.filter(pk=principal.account_id).delete()
