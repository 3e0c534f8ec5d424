"""`/v3/users` (SPEC §6 "Fleets"): the users of the account the caller acts in, and their keys.

A user is made with its user key, whose secret the answer shows this once (`apiKey`); the key
does what the user's role allows (`devices.access.ROLE_SCOPES`). Users are the account's to
manage alone (master password, an admin's user key, or a parent acting in its sub-account);
another account's user is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices import access
from devices import schema_docs as docs
from devices.presenters import user_json
from devices.selectors import user_resolve, users_of
from devices.shapes.accounts import UserChange, UserIn
from devices.shapes.keys import ApiKeyAnswer
from plugboard.accounts import services as accounts
from plugboard.errors import ApiError
from plugboard.models import ApiKey, User
from plugboard.property_dialect import PropertyDialectView, page


class UserManagementView(PropertyDialectView):
    def manager_only(self) -> None:
        if not access.may_manage_users(self.principal):
            raise ApiError(403, "only the account (master password or an admin's user key) manages users")

    def user(self, user_id: str) -> User:
        self.manager_only()
        return user_resolve(principal=self.principal, user_id=user_id)


@extend_schema_view(**docs.user_list)
class UserListView(UserManagementView):
    def get(self, request: Request, **_: Any) -> Response:
        self.manager_only()
        return Response(page(request, users_of(principal=self.principal), user_json))

    def post(self, request: Request, **_: Any) -> Response:
        self.manager_only()
        made = accounts.user_create(principal=self.principal, **UserIn.read(request))
        # The key's secret is shown this once; it is stored only as a keyed digest.
        return Response(
            {**user_json(made.user), "apiKey": {"id": made.key.id, "secret": made.secret}}, status=201
        )


@extend_schema_view(**docs.user)
class UserView(UserManagementView):
    def get(self, request: Request, user_id: str, **_: Any) -> Response:
        return Response(user_json(self.user(user_id)))

    def put(self, request: Request, user_id: str, **_: Any) -> Response:
        user = self.user(user_id)
        changed = accounts.user_update(principal=self.principal, user=user, **UserChange.read(request))
        return Response(user_json(changed))

    def delete(self, request: Request, user_id: str, **_: Any) -> Response:
        accounts.user_delete(principal=self.principal, user=self.user(user_id))
        return Response({"nrOfItems": 1})


@extend_schema_view(**docs.user_key)
class UserKeyView(UserManagementView):
    """`/users/{id}/apikey`: GET shows the user's key (secret withheld), POST regenerates it."""

    def get(self, request: Request, user_id: str, **_: Any) -> Response:
        user = self.user(user_id)
        key = ApiKey.objects.filter(user=user).first()
        if key is None:
            raise ApiError(404, f"user {user_id} has no key; POST to this URL makes one")
        return Response(ApiKeyAnswer.show(key, secret=None))

    def post(self, request: Request, user_id: str, **_: Any) -> Response:
        key, secret = accounts.user_key_regenerate(principal=self.principal, user=self.user(user_id))
        return Response(ApiKeyAnswer.show(key, secret=secret))
