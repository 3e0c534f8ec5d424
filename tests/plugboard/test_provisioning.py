"""SPEC §10: provisioning commands print one JSON object on stdout."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from plugboard.credentials import secret_digest
from plugboard.models import Account, ApiKey
from plugboard.principals import Principal


def _run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.django_db
def test_createaccount_createplug_createkey() -> None:
    account = _run("createaccount", "--email", "Ops@Example.com", "--password", "s3cret-pass")
    assert account["id"].startswith("com-") and len(account["id"]) == 28
    assert account["email"] == "ops@example.com"

    plug = _run("createplug", "--account", "ops@example.com", "--name", "boiler", "--kind", "controller")
    assert set(plug) == {"id", "name", "auth", "key_id", "key_secret"}
    assert plug["id"].startswith("dev-") and len(plug["id"]) == 28
    assert plug["key_id"].startswith("_key_") and len(plug["key_id"]) == 29
    assert plug["auth"] == plug["key_secret"]
    key = ApiKey.objects.get(id=plug["key_id"])
    assert key.secret_digest == secret_digest(plug["auth"]) and plug["auth"] not in key.secret_digest

    for kind in ("user", "apiclient"):
        made = _run("createkey", "--account", "ops@example.com", "--kind", kind)
        assert made["kind"] == kind and len(made["secret"]) == 32
    device = _run("createkey", "--account", "ops@example.com", "--kind", "device", "--plug", plug["id"])
    assert device["kind"] == "device"


@pytest.mark.django_db
def test_provisioning_errors_are_one_clear_line() -> None:
    _run("createaccount", "--email", "a@example.com", "--password", "pw-pw-pw-pw")
    with pytest.raises(CommandError, match="already exists"):
        call_command("createaccount", "--email", "A@example.com", "--password", "x", stdout=StringIO())
    with pytest.raises(CommandError, match="no account"):
        call_command("createplug", "--account", "nobody@example.com", "--name", "x", stdout=StringIO())
    with pytest.raises(CommandError, match="name"):
        call_command("createplug", "--account", "a@example.com", "--name", "9bad", stdout=StringIO())
    with pytest.raises(CommandError, match="needs --plug"):
        call_command("createkey", "--account", "a@example.com", "--kind", "device", stdout=StringIO())


@pytest.mark.django_db
def test_an_api_client_key_does_what_its_scopes_say() -> None:
    """`createkey --kind apiclient` writes its scopes down (an empty list no longer means "all"),
    and a key whose scope is empty may do nothing."""
    _run("createaccount", "--email", "s@example.com", "--password", "pw-pw-pw-pw")
    made = _run("createkey", "--account", "s@example.com", "--kind", "apiclient")
    assert ApiKey.objects.get(id=made["id"]).scope == ["device:read-data", "device:write-data"]
    assert made["scope"] == ["device:read-data", "device:write-data"]  # the default, shown
    reader = _run(
        "createkey", "--account", "s@example.com", "--kind", "apiclient", "--scope", "device:read-data"
    )
    assert ApiKey.objects.get(id=reader["id"]).scope == ["device:read-data"] == reader["scope"]
    with pytest.raises(CommandError, match="--scope"):  # an empty list is refused, never "all"
        call_command(
            "createkey", "--account", "s@example.com", "--kind", "apiclient", "--scope", "", stdout=StringIO()
        )
    with pytest.raises(CommandError, match="--scope"):
        call_command(
            "createkey",
            "--account",
            "s@example.com",
            "--kind",
            "apiclient",
            "--scope",
            "nope",
            stdout=StringIO(),
        )

    unscoped = Principal(account_id="com-x", kind="apiclient", credential="_key_x", scope=())
    everything = Principal(account_id="com-x", kind="apiclient", credential="_key_y", scope=("*",))
    assert not unscoped.has_scope("device:read-data")
    assert everything.has_scope("device:read-data") and everything.has_scope("device:modify")


@pytest.mark.django_db
def test_createaccount_sets_a_default_retention() -> None:
    made = _run(
        "createaccount", "--email", "r@example.com", "--password", "pw-pw-pw-pw", "--default-retention", "30d"
    )
    assert made["defaultRetention"] == 30 * 86400
    assert Account.objects.get(id=made["id"]).default_retention == 30 * 86400
    plain = _run("createaccount", "--email", "s@example.com", "--password", "pw-pw-pw-pw")
    assert "defaultRetention" not in plain and Account.objects.get(id=plain["id"]).default_retention is None
    for bad in ("forever", "0", "-5"):
        with pytest.raises(CommandError, match="--default-retention"):
            call_command(
                "createaccount",
                "--email",
                "t@example.com",
                "--password",
                "x",
                "--default-retention",
                bad,
                stdout=StringIO(),
            )
    assert not Account.objects.filter(email="t@example.com").exists()
