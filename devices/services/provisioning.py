"""Zero-touch provisioning (SPEC §7): a device that knows only a provisioning key and a custom id
of its own (`mac`, `sn`, …) gets its identity — its plug, device key and secret — and its config.

`connio/provisions` on MQTT (`commands.mqtt`) only translates: the request is read here, the
rights are `devices.access`'s, and every plug is made by the services that make all plugs.

A request is `{"<idType>": "<id>", "configProperty": "<name>"?}`:

- the device is matched on that custom id (`customIds.<idType>` of a device of the account);
  the same id twice returns the same device with the same key. Connio's documented key
  (`device:read`) searches the devices plugged into its app (`app` context) or the account's
  devices (`account` context; with `subaccount:read` its sub-accounts' too, the account's own
  first);
- not found: a key with a `deviceprofile` context creates a device of that profile (named after
  the profile and the id, the custom id recorded); a key with a `template` context enrolls the
  template's production hwid equal to the id (an id the template does not list is refused); a
  key with an app or account context only finds;
- the answer is the device id, its key id and secret, and the config property's current value
  (under the property's name as the request spells it; null if there is none yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast

from devices import access
from devices.models import DeviceProfile, Plug, Property, TemplateHwid
from devices.selectors import account_descendants, plug_device_key
from devices.services.enrollment import template_entry_enroll
from devices.services.fields import V3_KEY, PlugError
from devices.services.plugs import Enrolled, default_name, device_key_regenerate, plug_create
from devices.services.profiles import plug_profile_set
from plugboard.errors import ApiError
from plugboard.models import ApiKey
from plugboard.principals import Principal
from plugboard.services import key_secret

# A custom id's type: a short word (`mac`, `sn`, `imei`, `serial_no`); its value, what a hwid may be.
# No `__`, no leading or trailing `_`: a plain word, as the SDKs' id types are.
ID_TYPE_RE = re.compile(r"^(?=.{1,40}$)[A-Za-z][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*$")
MAX_ID = 128
CONFIG = "configProperty"


class ProvisioningRefused(PlugError):
    """A provisioning request that cannot be served; `status` as the v3 dialect would answer."""


@dataclass(frozen=True)
class Request:
    id_type: str
    id: str
    config_property: str | None


@dataclass(frozen=True)
class Provisioned:
    plug: Plug
    key: ApiKey
    secret: str
    created: bool
    config_property: str | None
    config: Any

    def answer(self) -> dict[str, Any]:
        """What the device is sent (the Connio SDK reads these keys)."""
        result: dict[str, Any] = {
            "deviceId": self.plug.id,
            "name": self.plug.name,
            "apiKeyId": self.key.id,
            "apiSecret": self.secret,
            "created": self.created,
        }
        if self.config_property:
            result[self.config_property] = self.config
        return result


def request_read(body: Any) -> Request:
    """The request in a provisioning message, or a 400 saying what is wrong with it."""
    if not isinstance(body, dict):
        raise ProvisioningRefused(
            'a provisioning request is an object {"<idType>": "<id>", "configProperty"?: name}'
        )
    config = body.get(CONFIG)
    if config is not None and not (isinstance(config, str) and 0 < len(config) <= 200):
        raise ProvisioningRefused("configProperty must be a property name")
    ids = {k: v for k, v in body.items() if k != CONFIG}
    if len(ids) != 1:
        raise ProvisioningRefused('a provisioning request names exactly one custom id, such as {"mac": "…"}')
    ((id_type, value),) = ids.items()
    if not ID_TYPE_RE.match(id_type):
        raise ProvisioningRefused(
            "the id type is a word of letters, digits, '-' and single '_' (at most 40): mac, serial_no"
        )
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or "\x00" in value:
        raise ProvisioningRefused(f"{id_type} must be a string of 1..{MAX_ID} characters")
    return Request(id_type=id_type, id=value, config_property=config)


def _find(account_ids: list[str], request: Request, app_id: str | None = None) -> Plug | None:
    """The device of `account_ids` (the first account that has one, in order) whose custom id
    is the request's; with `app_id`, only among the devices plugged into that app."""
    # Key transforms spelled out, not a `props__…` look-up string: an id type named like a
    # look-up (`contains`, `isnull`) stays a key.
    # Cast: compared as text on every engine (SQLite would read the value as JSON).
    custom_id = Cast(
        KeyTextTransform(request.id_type, KeyTransform("customIds", KeyTransform(V3_KEY, "props"))),
        TextField(),
    )
    found = Plug.objects.filter(account_id__in=account_ids).annotate(custom_id=custom_id)
    if app_id is not None:
        found = found.filter(controlled_by__controller_id=app_id)
    # One custom id names a device or two: every match is read, the caller's own account's wins.
    matches = list(found.filter(custom_id=request.id).order_by("date_created"))
    for account_id in account_ids:
        for plug in matches:
            if access.same_account(plug.account_id, account_id):
                return plug
    return None


def _with_custom_id(props: dict[str, Any], request: Request) -> dict[str, Any]:
    extras = dict(props.get(V3_KEY) or {})
    extras["customIds"] = {**(extras.get("customIds") or {}), request.id_type: request.id}
    return {**props, V3_KEY: extras}


def _from_profile(account_id: str, profile_id: str, request: Request) -> Enrolled:
    profile = DeviceProfile.objects.filter(
        account_id=account_id, id=profile_id, kind=DeviceProfile.Kind.DEVICE
    ).first()
    if profile is None:  # deleted since the key was made
        raise ProvisioningRefused(f"the key's device profile {profile_id} no longer exists", status=404)
    enrolled = plug_create(
        account=account_id,
        name=default_name(account_id, f"{profile.name}-{request.id}"),
        props=_with_custom_id({}, request),
        profile=profile,
    )
    plug_profile_set(plug=enrolled.plug, profile=profile)
    return enrolled


def _from_template(account_id: str, template_id: str, request: Request) -> Enrolled | Plug:
    entry = (
        TemplateHwid.objects.select_for_update()
        .select_related("template")
        .filter(template_id=template_id, template__account_id=account_id, hwid=request.id)
        .first()
    )
    if entry is None:
        raise ProvisioningRefused(
            f"{request.id_type} {request.id} is not in the key's production template", status=404
        )
    if entry.plug_id is not None:  # enrolled through the channel dialect already: record the id
        plug = Plug.objects.select_for_update().get(pk=entry.plug_id)
        plug.props = _with_custom_id(plug.props or {}, request)
        plug.save(update_fields=["props", "date_modified"])
        return plug
    return template_entry_enroll(entry=entry, props=_with_custom_id({}, request))


def _config_value(plug: Plug, name: str | None) -> Any:
    if not name:
        return None
    prop = Property.objects.filter(plug=plug, name__iexact=name).only("last_value").first()
    return prop.last_value if prop else None


@transaction.atomic
def provision(*, principal: Principal, request: Request) -> Provisioned:
    """Find or create the device `request` names, as `principal` (a provisioning key) may."""
    where = access.provisioning_context(principal)
    if where is None:
        raise ProvisioningRefused(
            "these credentials are no provisioning key (scope device:read in an app or account "
            "context, or device:provision)",
            status=403,
        )
    account_id = principal.account_id
    if where.kind == ApiKey.ContextType.PROFILE:
        # One provisioning at a time per profile: the same id sent twice at once makes one device.
        DeviceProfile.objects.select_for_update().filter(id=where.target, account_id=account_id).first()
    accounts = [account_id, *(account_descendants(account_id=account_id) if where.subaccounts else ())]
    app_id = where.target if where.kind == ApiKey.ContextType.APP else None
    plug = _find(accounts, request, app_id)
    created = False
    if plug is None:
        if not where.creates or where.target is None:  # an app or account context finds only
            raise ProvisioningRefused(f"no device has {request.id_type} {request.id}", status=404)
        made: Enrolled | Plug
        if where.kind == ApiKey.ContextType.PROFILE:
            made = _from_profile(account_id, where.target, request)
        else:
            made = _from_template(account_id, where.target, request)
        if isinstance(made, Enrolled):
            created = True
            plug = made.plug
        else:
            plug = made
    if plug.is_disabled:
        raise ProvisioningRefused(f"device {plug.id} is disabled", status=403)
    key = plug_device_key(plug=plug)
    secret = key_secret(key=key) if key is not None else None
    if key is None or secret is None:
        key, secret = device_key_regenerate(plug=plug)
    return Provisioned(
        plug=plug,
        key=key,
        secret=secret,
        created=created,
        config_property=request.config_property,
        config=_config_value(plug, request.config_property),
    )


def provision_answer(*, principal: Principal, body: Any) -> dict[str, Any]:
    """The answer to a provisioning message (`body`: its parsed JSON): the identity, or
    `{"error": {code, cause, message}}` — the v3 error's fields — when it is refused."""
    try:
        return provision(principal=principal, request=request_read(body)).answer()
    except ApiError as refused:
        return {
            "error": {"code": refused.status_code, "cause": refused.cause, "message": str(refused.detail)}
        }
