"""Who is calling: the identity behind any accepted credential, shared by every transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Scope(StrEnum):
    """What an API client key may do (Connio's scope names); `devices.access` applies them."""

    ALL = "*"  # every scope
    ACCOUNT_READ = "account:read"
    APICLIENT_READ = "apiclient:read"
    SUBACCOUNT_READ = "subaccount:read"
    READ = "device:read"
    READ_DATA = "device:read-data"
    WRITE_DATA = "device:write-data"
    MODIFY = "device:modify"
    EXECUTE = "device:execute"
    PROVISION = "device:provision"  # a provisioning key: find or create devices, nothing else
    PROFILE_READ = "deviceprofile:read"
    PROFILE_MODIFY = "deviceprofile:modify"
    APP_READ = "app:read"
    APP_READ_DATA = "app:read-data"
    APP_MODIFY = "app:modify"
    APPPROFILE_READ = "appprofile:read"
    APPPROFILE_MODIFY = "appprofile:modify"


PrincipalKind = Literal["account", "plug", "apiclient"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `kind` is `account` (master password or user key), `plug` (a plug's own credentials or a
    device key; `plug_ids` lists every plug a gateway key may act as) or `apiclient`.
    """

    account_id: str
    kind: PrincipalKind
    credential: str  # what the journal records: email, plug id or key id
    plug_id: str | None = None
    key_id: str | None = None
    plug_ids: tuple[str, ...] = ()
    context_type: str = "account"  # an ApiKey.ContextType value
    context_ids: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    rate_limit: int = 0  # the verified key's requests per minute (0: unlimited)
    # The account the credentials belong to when they act in one of its sub-accounts
    # (`/v3/accounts/{sub}/…`, then `account_id` is the sub-account's); None otherwise.
    home_account_id: str | None = None
    is_authenticated: bool = field(default=True, repr=False)

    @property
    def is_account(self) -> bool:
        return self.kind == "account"

    @property
    def is_plug(self) -> bool:
        return self.kind == "plug"

    @property
    def is_apiclient(self) -> bool:
        return self.kind == "apiclient"

    def acts_as(self, plug_id: str) -> bool:
        """Whether this caller *is* the plug (its own, or a gateway key's, credentials)."""
        return self.kind == "plug" and (plug_id == self.plug_id or plug_id in self.plug_ids)

    def names_own_account(self, acc: str) -> bool:
        """Whether `acc`, an account named by a path or a body, is the account this principal
        acts in: its id, or `_this_`. Whether it may act in another is `devices.access`'s."""
        return acc in ("_this_", self.account_id)

    def has_scope(self, scope: str) -> bool:
        """An API client key may do what its scopes list (`*`: everything; none: nothing);
        the other kinds are not scoped."""
        return not self.is_apiclient or scope in self.scope or Scope.ALL in self.scope
