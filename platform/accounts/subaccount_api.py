"""`/v3/accounts` (SPEC §6 "Fleets"): the sub-accounts of the account the caller acts in.

GET lists its direct sub-accounts (the account, or an API client with `subaccount:read`); POST
creates one from a name, with its administrator if the body names one (`user {email, role?,
name?}`: the email becomes the sub-account's), whose user key the answer shows this once
(`apiKey`; `user` and `apiKey` are null without one). Each sub-account is a
tenant of its own: its parent manages it through `/v3/accounts/{sub}` and `/v3/accounts/{sub}/…`
(`plugboard.accounts.account_api`, `devices.identity.principal_in_account`), its siblings see nothing of it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.presenters import account_json, user_json
from devices.selectors import subaccounts_of
from devices.shapes.accounts import SubaccountIn
from plugboard.accounts.services import subaccount_create
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView, page


@extend_schema_view(**docs.subaccount_list)
class SubaccountListView(PropertyDialectView):
    def get(self, request: Request, **_: Any) -> Response:
        if not access.may_read_subaccounts(self.principal):
            raise ApiError(403, "these credentials may not list sub-accounts")
        return Response(page(request, subaccounts_of(principal=self.principal), account_json))

    def post(self, request: Request, **_: Any) -> Response:
        if not access.may_manage_subaccounts(self.principal):
            raise ApiError(
                403, "only the account (master password or an admin's user key) creates sub-accounts"
            )
        body = SubaccountIn.read(request, principal=self.principal)
        made = subaccount_create(principal=self.principal, **SubaccountIn.fields_of(body))
        admin = made.admin
        return Response(
            {
                **account_json(made.account),
                "user": user_json(admin.user) if admin else None,
                # The administrator's key: its secret is shown this once.
                "apiKey": {"id": admin.key.id, "secret": admin.secret} if admin else None,
            },
            status=201,
        )
