"""The property dialect's JSON shapes (SPEC §6): property, log entry, account, user (devices and
apps: `devices.shapes.devices`; API keys and API clients: `devices.shapes.keys`).

Field names are the v3 ones existing clients read (the Connio SDKs index several of them
without a default, so every object carries all of its keys, with `null` where there is no
value). Plug words map to v3 words here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from devices.models import DeviceLogEntry
from devices.shapes.base import lifetime_text
from plugboard.models import Account, User
from plugboard.property_dialect import iso_date


def retention_json(seconds: int | None) -> dict[str, Any] | None:
    if not seconds:
        return None
    return {
        "type": "historical",
        "context": {"type": "default"},
        "lifetime": lifetime_text(seconds),
        "seconds": seconds,
    }


def log_entry_json(entry: DeviceLogEntry) -> dict[str, Any]:
    at = iso_date(entry.at)
    return {
        "id": entry.id,
        "t": at,
        "dateCreated": at,
        "source": entry.source,
        "property": entry.property,
        "code": entry.code,
        "message": entry.message,
    }


def account_json(account: Account) -> dict[str, Any]:
    """An account (`/v3/accounts/{acc}`, the items of `/v3/accounts`); `defaultRetention` has a
    property's retention shape (or null: points without an expiry of their own are kept).
    `ownerId` is the parent of a sub-account (null for a top account); `plan` is null (no
    plans here) and `locked` false, as the Connio SDK indexes both."""
    name = account.public_name or None  # null for a sub-account with neither name nor email
    return {
        "id": account.id,
        "name": name,
        "friendlyName": account.friendly_name or name,
        "email": account.email,
        "status": "active" if account.is_active else "suspended",
        "plan": None,
        "locked": False,
        "ownerId": account.parent_id,
        "tags": list(account.tags or []),
        "description": account.description,
        "defaultRetention": retention_json(account.default_retention),
        "dateCreated": iso_date(account.date_created),
        "dateModified": iso_date(account.date_modified),
    }


def user_json(user: User) -> dict[str, Any]:
    """A user of an account (`/v3/users`), with every key the Connio SDK's UserInstance reads;
    what Plugboard keeps no value for is null (or empty)."""
    return {
        "id": user.id,
        "accountId": user.account_id,
        "name": user.name,
        "email": user.email,
        "status": "active" if user.is_active else "disabled",
        "role": user.role,
        "description": "",
        "tags": [],
        "locale": None,
        "timezone": None,
        "prefs": None,
        "avatarUrl": None,
        "dateCreated": iso_date(user.date_created),
        "dateModified": iso_date(user.date_modified),
    }
