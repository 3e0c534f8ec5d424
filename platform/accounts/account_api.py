"""`/v3/accounts/{acc}` (`{acc}` = the caller's account id, `_this_`, or one of its sub-accounts'
ids): the account object and its settings (SPEC §6). GET: the account, or an API client with
`account:read` (`subaccount:read` for a sub-account); PUT and PATCH (both change only what the
body names): the account itself, or its parent; DELETE: only the parent (an account cannot
delete itself). How a parent comes to act in its sub-account: `devices.identity.principal_in_account`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.presenters import account_json
from devices.selectors import account_of
from devices.services.management import account_update
from devices.shapes.accounts import AccountSettings
from plugboard.accounts.services import account_delete
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView


@extend_schema_view(**docs.account)
class AccountView(PropertyDialectView):
    def get(self, request: Request, **_: Any) -> Response:
        if not access.may_read_account(self.principal):
            raise ApiError(403, "these credentials may not read the account")
        return Response(account_json(account_of(principal=self.principal)))

    def _change(self, request: Request) -> Response:
        if not access.may_change_account(self.principal):
            raise ApiError(403, "only the account (master password or user key) may change its settings")
        changes = AccountSettings.read(request)
        return Response(account_json(account_update(principal=self.principal, **changes)))

    def put(self, request: Request, **_: Any) -> Response:
        return self._change(request)

    def patch(self, request: Request, **_: Any) -> Response:
        return self._change(request)

    def delete(self, request: Request, **_: Any) -> Response:
        # `?hard=true` (the Connio SDK's `delete(remove=True)` sends it after a plain DELETE)
        # changes nothing: a deletion here always removes the account and all it holds.
        account_delete(principal=self.principal)
        return Response({"nrOfItems": 1})
