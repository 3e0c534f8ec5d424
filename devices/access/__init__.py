"""Who may do what (SPEC §3, §4, §5, §7): the one module every path asks.

The rules by subject: `rules` (data reach, plugs, the v3 management API, users and
sub-accounts, alerts), `mqtt` (client ids, topics, mirrors), `operations` (`/metrics`), and
`fetch` (fetch-and-authorize: the thing a service was handed, or its 404/403). Every caller
asks through this package (`from devices import access`).

HTTP views of both dialects, the MQTT endpoint (CONNECT, SUBSCRIBE, PUBLISH), the write service
and the console ask here; none of them spells a rule of its own. Identity (which principal a
credential is) is `devices.identity`'s question; this module starts from a `Principal`.

The rules:

- the **account** (master password, user key) reads and writes every plug of the account, and
  alone publishes as the account's own id, administers plugs (status, `perm.of`) and manages
  keys;
- a **plug** reads and writes its own data, the things it controls (with the rights the thing's
  `perm.ctrl` granted), and the plugs its own `perm.of.r` / `perm.of.w` list (null = all); it
  changes its own name, props and `perm.ctrl`; a **gateway key** acts as each device it lists;
- an **API client key** reaches its context (`account`, an `app` and the things it controls,
  listed `devices`) within its scopes: `device:read-data` / `device:write-data` for data,
  `device:read` to look at devices, `device:modify` (account context) to create and change them.

Nothing of one account is reachable from another: every check compares accounts first, and a
`Reach` is always read within the principal's own account.
"""

from devices.access.fetch import (
    access_profile_property_to_change,
    access_profile_to_change,
    access_property_to_change,
)
from devices.access.mqtt import (
    mqtt_may_mirror,
    mqtt_may_mirror_app,
    mqtt_may_mirror_device,
    mqtt_may_publish_to_device,
    mqtt_may_read_records,
    mqtt_may_subscribe_commands,
    mqtt_may_take_client_id,
)
from devices.access.operations import (
    metrics_readable,
)
from devices.access.rules import (
    ALL,
    APP_READ_SCOPES,
    DATA_SCOPE,
    EVERYWHERE,
    MANAGEMENT_READ_SCOPES,
    NOWHERE,
    PROFILE_SCOPES,
    ROLE_SCOPES,
    ContextType,
    Mode,
    ProvisioningContext,
    Reach,
    Refusal,
    StaffUser,
    alert_owner_access,
    foreign_plug_ids,
    in_own_account,
    in_subaccount,
    incident_devices_reach,
    is_app_context,
    management_reach,
    may_administer_plug,
    may_change_account,
    may_create_device,
    may_delete_account,
    may_enroll_controller,
    may_enroll_prototype,
    may_manage_alerts,
    may_manage_keys,
    may_manage_plug,
    may_manage_subaccounts,
    may_manage_users,
    may_modify_device,
    may_modify_profiles,
    may_open_any_account,
    may_publish_as_account,
    may_reach_data,
    may_read_account,
    may_read_alerts,
    may_read_device_key,
    may_read_profiles,
    may_read_subaccounts,
    may_see_plug,
    may_unenroll,
    may_use_console,
    modify_scope,
    mqtt_may_provision,
    own_publisher_id,
    property_refusal,
    provisioning_context,
    reach,
    role_is_account,
    same_account,
    takes_writes,
    write_refusal,
    writes_as_device,
)

__all__ = [
    "ALL",
    "APP_READ_SCOPES",
    "ContextType",
    "DATA_SCOPE",
    "EVERYWHERE",
    "MANAGEMENT_READ_SCOPES",
    "Mode",
    "NOWHERE",
    "PROFILE_SCOPES",
    "ProvisioningContext",
    "ROLE_SCOPES",
    "Reach",
    "Refusal",
    "StaffUser",
    "access_profile_property_to_change",
    "access_profile_to_change",
    "access_property_to_change",
    "alert_owner_access",
    "foreign_plug_ids",
    "in_own_account",
    "is_app_context",
    "in_subaccount",
    "incident_devices_reach",
    "management_reach",
    "may_administer_plug",
    "may_change_account",
    "may_create_device",
    "may_delete_account",
    "may_enroll_controller",
    "may_enroll_prototype",
    "may_manage_alerts",
    "may_manage_keys",
    "may_manage_plug",
    "may_manage_subaccounts",
    "may_manage_users",
    "may_modify_device",
    "may_modify_profiles",
    "may_open_any_account",
    "may_publish_as_account",
    "may_reach_data",
    "may_read_account",
    "may_read_alerts",
    "may_read_device_key",
    "may_read_profiles",
    "may_read_subaccounts",
    "may_see_plug",
    "may_unenroll",
    "may_use_console",
    "metrics_readable",
    "modify_scope",
    "mqtt_may_mirror",
    "mqtt_may_mirror_app",
    "mqtt_may_mirror_device",
    "mqtt_may_provision",
    "mqtt_may_publish_to_device",
    "mqtt_may_read_records",
    "mqtt_may_subscribe_commands",
    "mqtt_may_take_client_id",
    "own_publisher_id",
    "property_refusal",
    "provisioning_context",
    "reach",
    "role_is_account",
    "same_account",
    "takes_writes",
    "write_refusal",
    "writes_as_device",
]
