"""The Connio Python SDK (`conniosdk`, unmodified; only its host is ours) against a real server:
users and sub-accounts (issue 15). The SDK reaches them under `/v3/accounts/_this_/users` and
`/v3/accounts`, with a user key (Basic `_key_…:secret`). (`client.api.users` is the SDK's system
users, a Connio operator's API; an account's users are `client.api.account.users`, which
`client.api.v3.users` is too.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connio.base.exceptions import ConnioException
from connio.rest import Client
from connio.rest.api.v3.account import AccountInstance, UserInfo

from plugboard.models import Account, User
from tests.conftest import Tenant
from tests.support import ServerProcess, serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[ServerProcess]:
    process = serve(django_db_blocker, tmp_path / "server-var", tmp_path / "server.log", REDIS_URL="")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def sdk(server: ServerProcess, tenant: Tenant) -> Client:
    key_id, secret = tenant.user_key()
    return Client(username=key_id, password=secret, host=server.base)


def test_users(sdk: Client, tenant: Tenant, server: ServerProcess) -> None:
    assert sdk.api.v3.users.list() == []
    made = sdk.api.v3.users.create("dev@example.com", "developer", "Dev")
    assert made["email"] == "dev@example.com" and made["apiKey"]["secret"]
    listed = sdk.api.v3.users.list()
    assert [(u.id, u.email, u.role, u.status) for u in listed] == [
        (made["id"], "dev@example.com", "developer", "active")
    ]
    fetched = sdk.api.account.users.get(made["id"]).fetch()
    assert fetched.account_id == tenant.account.id and fetched.name == "Dev"
    # The new user's key works with the SDK too, within its role.
    as_dev = Client(username=made["apiKey"]["id"], password=made["apiKey"]["secret"], host=server.base)
    assert as_dev.api.v3.deviceprofiles.create(name="thermostat").name == "thermostat"
    with pytest.raises(ConnioException, match="403"):  # a page the SDK could not fetch
        as_dev.api.account.users.list()


def test_a_sub_account_from_a_name_alone(sdk: Client, tenant: Tenant) -> None:
    made = sdk.api.accounts.create("acme-asia")  # no userInfo: SPEC §6 makes the administrator optional
    assert made["name"] == "acme-asia" and made["ownerId"] == tenant.account.id
    assert made["user"] is None and made["apiKey"] is None
    fetched = sdk.api.accounts.get(made["id"]).fetch()
    assert (fetched.name, fetched.owner_account_id, fetched.status) == (
        "acme-asia",
        tenant.account.id,
        "active",
    )
    assert not User.objects.filter(account_id=made["id"]).exists()


def test_sub_accounts(sdk: Client, tenant: Tenant, server: ServerProcess) -> None:
    this = sdk.api.account.fetch()
    assert this.id == tenant.account.id and this.owner_account_id is None and this.plan is None

    made = sdk.api.accounts.create(
        "acme-eu",
        friendly_name="Acme EU",
        userInfo=UserInfo("eu@acme.example", "admin", "EU admin"),
        tags=["eu"],
        description="Europe",
    )
    assert made["ownerId"] == tenant.account.id and made["apiKey"]["secret"]
    listed = sdk.api.accounts.list()
    assert [(a.id, a.name, a.friendly_name, a.tags) for a in listed] == [
        (made["id"], "acme-eu", "Acme EU", ["eu"])
    ]
    sub = sdk.api.accounts.get(made["id"]).fetch()
    assert sub.owner_account_id == tenant.account.id and sub.status == "active"

    updated = sdk.api.accounts.get(made["id"]).update(friendly_name="Acme Europe", status="suspended")
    assert (updated.friendly_name, updated.status) == ("Acme Europe", "suspended")
    assert not Account.objects.get(id=made["id"]).is_active
    sdk.api.accounts.get(made["id"]).update(status=AccountInstance.Status.SUSPENDED)

    # The sub-account's administrator key is the sub-account, through the SDK as well.
    sdk.api.accounts.get(made["id"]).update(status="active")
    as_sub = Client(username=made["apiKey"]["id"], password=made["apiKey"]["secret"], host=server.base)
    assert as_sub.api.account.fetch().id == made["id"]
    assert [u.email for u in as_sub.api.account.users.list()] == ["eu@acme.example"]

    sdk.api.accounts.get(made["id"]).delete()
    assert not Account.objects.filter(id=made["id"]).exists() and not User.objects.exists()
    assert sdk.api.accounts.list() == []
