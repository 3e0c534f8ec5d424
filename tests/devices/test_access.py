"""The whole authorization matrix of `devices.access`, as one table.

Rows: every kind of credential of account A (verified from real credentials by
`devices.identity.verify`, as HTTP and MQTT do). Columns: every question the paths ask. Each
question is asked about A's thing (the table's expectation) and about B's thing with the same
shape (always no: nothing of one account is reachable from another).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from devices import access
from devices.identity import Credentials, verify
from devices.models import Control, Plug
from devices.services.plugs import plug_create
from plugboard.models import Account, ApiKey
from plugboard.principals import Principal
from plugboard.services import account_create, apiclient_create, key_create
from tests.conftest import PASSWORD

# The credentials of account A, in the table's column order.
CREDENTIALS = (
    "master",  # the account's email and master password
    "user",  # a user key
    "self",  # the thing's own auth
    "other",  # another plug of A, with no rights on the thing
    "gateway",  # a gateway's device key listing the thing
    "controller",  # a controller plug controlling the thing (perm.ctrl "rw")
    "ac-read",  # API client key, account context, device:read-data
    "ac-write",  # API client key, account context, device:write-data
    "ac-modify",  # API client key, account context, device:modify
    "ac-all",  # API client key, account context, "*"
    "ac-devices",  # API client key, devices context [thing], read-data + write-data
    "ac-elsewhere",  # API client key, devices context [the other plug], read-data + write-data
    "ac-app",  # API client key, app context (the controller), device:read-data
)

# question → expected answer for A's thing, one letter per credential above (Y yes, . no).
MATRIX = {
    #                      m u s o g c r w m a d e p
    "read data": "YYY.YYY..YY.Y",
    "write data": "YYY.YY.Y.YY..",
    "see plug": "YYY.YYY.YYY.Y",
    "manage plug": "YYY.Y...YY...",
    "administer plug": "YY......YY...",
    "unenroll": "YYY.Y...YY...",
    "v3 look at device": "YYY.Y.Y.YYY.Y",
    "v3 modify device": "YY......YY...",
    "read device key": "YYY..........",
    "mqtt publish to device": "YYY.Y.YYYYYYY",
    "mqtt subscribe commands": "..Y.Y........",
    "mqtt client id of the thing": "YYYYYYYYYYYYY",
    "mqtt receive own records unlooked": "..Y.Y........",
    "mqtt receive records": "YYY.YYY..YY.Y",
    # Device mirroring (SPEC §13): user keys and device:read-data keys of an account or app context.
    "mqtt mirror the thing": "YY....Y..Y..Y",
    "mqtt mirror through the thing's app": "YY....Y..Y..Y",
}

# Questions about the account itself (no target plug): asked for A, and their B twin is moot.
ACCOUNT_MATRIX = {
    #                      m u s o g c r w m a d e p
    "create device": "YY......YY...",
    "manage keys": "YY...........",
    "use the console": "YY...........",
    "publish as the account": "YY...........",
    "read device profiles": "YY.......Y...",
    "modify device profiles": "YY.......Y...",
    # Only the "*" key among these is a provisioning key (device:read or device:provision).
    "provision": ".........Y...",
}


def _questions(principal: Principal, plug: Plug, app: Plug) -> dict[str, Callable[[], bool]]:
    def write_refused() -> bool:
        reach = access.reach(principal, access.Mode.WRITE)
        return access.write_refusal(principal, plug.id, plug, lambda: reach) is not None

    return {
        "read data": lambda: access.may_reach_data(principal, plug, access.Mode.READ),
        "write data": lambda: not write_refused(),
        "see plug": lambda: access.may_see_plug(principal, plug),
        "manage plug": lambda: access.may_manage_plug(principal, plug),
        "administer plug": lambda: access.may_administer_plug(principal, plug),
        "unenroll": lambda: access.may_unenroll(principal, plug),
        "v3 look at device": lambda: (
            plug.account_id == principal.account_id and access.management_reach(principal).allows(plug.id)
        ),
        "v3 modify device": lambda: access.may_modify_device(principal, plug),
        "read device key": lambda: access.may_read_device_key(principal, plug),
        "mqtt publish to device": lambda: access.mqtt_may_publish_to_device(
            principal, plug.id, plug.account_id
        ),
        "mqtt subscribe commands": lambda: (
            plug.account_id == principal.account_id and access.mqtt_may_subscribe_commands(principal, plug.id)
        ),
        # The endpoint knows a plug's account only when it had to look it up: not for its own.
        "mqtt receive own records unlooked": lambda: access.mqtt_may_read_records(
            principal, plug.id, None, access.reach(principal, access.Mode.READ)
        ),
        "mqtt client id of the thing": lambda: access.mqtt_may_take_client_id(principal, plug.account_id),
        "mqtt receive records": lambda: access.mqtt_may_read_records(
            principal, plug.id, plug.account_id, access.reach(principal, access.Mode.READ)
        ),
        "mqtt mirror the thing": lambda: access.mqtt_may_mirror_device(
            principal, plug.id, plug.account_id, access.reach(principal, access.Mode.READ)
        ),
        "mqtt mirror through the thing's app": lambda: access.mqtt_may_mirror_app(
            principal, app.id, app.account_id
        ),
    }


@dataclass
class World:
    thing: Plug
    principals: dict[str, Principal]
    controller: Plug


def _world(email: str) -> World:
    """An account with a thing and one credential of every kind."""
    account: Account = account_create(email=email, password=PASSWORD)
    thing = plug_create(account=account, name="thing")
    other = plug_create(account=account, name="other")
    gateway = plug_create(account=account, name="gateway")
    controller = plug_create(account=account, name="controller", kind=Plug.Kind.CONTROLLER)
    Control.objects.create(controller=controller.plug, thing=thing.plug, rights="rw")
    gateway_key, gateway_secret = key_create(
        account=account, kind=ApiKey.Kind.DEVICE, plug=gateway.plug, context_ids=[thing.plug.id]
    )
    user_key, user_secret = key_create(account=account, kind=ApiKey.Kind.USER)

    def client(scope: list[str], context: str = "account", **where: object) -> Credentials:
        key, secret = apiclient_create(account=account, scope=scope, context_type=context, **where)  # type: ignore[arg-type]
        return Credentials("key", key.id, secret)

    both = ["device:read-data", "device:write-data"]
    presented = {
        "master": Credentials("email", email, PASSWORD, master=True),
        "user": Credentials("key", user_key.id, user_secret),
        "self": Credentials("plug", thing.plug.id, thing.auth),
        "other": Credentials("plug", other.plug.id, other.auth),
        "gateway": Credentials("key", gateway_key.id, gateway_secret),
        "controller": Credentials("plug", controller.plug.id, controller.auth),
        "ac-read": client(["device:read-data"]),
        "ac-write": client(["device:write-data"]),
        "ac-modify": client(["device:modify"]),
        "ac-all": client(["*"]),
        "ac-devices": client(both, "devices", context_ids=[thing.plug.id]),
        "ac-elsewhere": client(both, "devices", context_ids=[other.plug.id]),
        "ac-app": client(["device:read-data"], "app", app=controller.plug),
    }
    principals = {}
    for name, creds in presented.items():
        principal = verify(creds)
        assert principal is not None, name
        principals[name] = principal
    return World(thing.plug, principals, controller.plug)


@pytest.fixture
def worlds(db: None) -> tuple[World, World]:
    return _world("a@example.com"), _world("b@example.com")


def test_the_table_has_a_letter_per_credential() -> None:
    for row in {**MATRIX, **ACCOUNT_MATRIX}.values():
        assert len(row) == len(CREDENTIALS) and set(row) <= {"Y", "."}


def test_the_authorization_matrix(worlds: tuple[World, World]) -> None:
    a, b = worlds
    wrong = []
    for question, row in MATRIX.items():
        for name, expected in zip(CREDENTIALS, row, strict=True):
            principal = a.principals[name]
            own = _questions(principal, a.thing, a.controller)[question]()
            foreign = _questions(principal, b.thing, b.controller)[question]()
            if own != (expected == "Y"):
                wrong.append(f"{name} / {question} / own thing: {own}, table says {expected}")
            if foreign:
                wrong.append(f"{name} / {question} / account B's thing: allowed")
    assert not wrong, "\n".join(wrong)


def test_account_wide_questions(worlds: tuple[World, World]) -> None:
    a, _ = worlds
    answers = {
        "create device": access.may_create_device,
        "manage keys": access.may_manage_keys,
        "use the console": access.may_use_console,
        "publish as the account": access.may_publish_as_account,
        "read device profiles": access.may_read_profiles,
        "modify device profiles": access.may_modify_profiles,
        "provision": lambda p: access.provisioning_context(p) is not None,
    }
    got = {
        question: "".join("Y" if answers[question](a.principals[n]) else "." for n in CREDENTIALS)
        for question in ACCOUNT_MATRIX
    }
    assert got == ACCOUNT_MATRIX


# API client keys with the device profile scopes (no device scope): (scope, context) → may
# read profiles, may modify them. Profiles are account-wide: reading ignores the context,
# changing needs an account context.
PROFILE_SCOPE_MATRIX = {
    ("deviceprofile:read", "account"): (True, False),
    ("deviceprofile:modify", "account"): (True, True),
    ("deviceprofile:read", "devices"): (True, False),
    ("deviceprofile:modify", "devices"): (True, False),
    ("deviceprofile:modify", "app"): (True, False),
    ("device:modify", "account"): (False, False),
    ("appprofile:modify", "account"): (False, False),
}


def test_who_may_read_and_modify_device_profiles(worlds: tuple[World, World]) -> None:
    a, _ = worlds
    controller = Plug.objects.get(account_id=a.thing.account_id, name="controller")
    got = {}
    for scope, context in PROFILE_SCOPE_MATRIX:
        where: dict[str, object] = {"app": controller} if context == "app" else {}
        if context == "devices":
            where["context_ids"] = [a.thing.id]
        key, secret = apiclient_create(
            account=a.thing.account_id,
            scope=[scope],
            context_type=context,
            **where,  # type: ignore[arg-type]
        )
        principal = verify(Credentials("key", key.id, secret))
        assert principal is not None
        got[(scope, context)] = (access.may_read_profiles(principal), access.may_modify_profiles(principal))
    assert got == PROFILE_SCOPE_MATRIX


def test_no_reach_extends_to_another_account(worlds: tuple[World, World]) -> None:
    """A reach of `everything` means the principal's own account: reads filter by account, and
    a perm.of naming B's plugs is refused when stored (test_plug_management)."""
    a, b = worlds
    for principal in a.principals.values():
        for mode in access.Mode:
            if access.reach(principal, mode).ids:
                assert b.thing.id not in access.reach(principal, mode).ids
        assert access.write_refusal(principal, b.thing.id, b.thing, lambda: access.EVERYWHERE) is not None
        assert not access.mqtt_may_read_records(principal, b.thing.account_id, None, access.EVERYWHERE)


# Django users of the console (not credentials of an account): who may open any account.
STAFF_MATRIX = {
    # (is_staff, is_active, is_superuser) → may open any account
    (True, True, False): True,
    (True, True, True): True,
    (False, True, True): False,  # a superuser that is not staff does not use the console
    (False, True, False): False,
    (True, False, False): False,  # deactivated
}


def test_who_may_open_any_account(db: None) -> None:
    from django.contrib.auth.models import User

    got = {}
    for i, (staff, active, superuser) in enumerate(STAFF_MATRIX):
        user = User.objects.create_user(
            f"u{i}", password="pw", is_staff=staff, is_active=active, is_superuser=superuser
        )
        got[(staff, active, superuser)] = access.may_open_any_account(user)
    assert got == STAFF_MATRIX
    assert not access.may_open_any_account(None)
