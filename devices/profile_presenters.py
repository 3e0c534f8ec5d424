"""The property dialect's device profile shapes (SPEC §6 "Fleets"): a profile and a property
it declares, with the v3 field names the Connio SDKs read (every key present, `null` where
there is no value)."""

from __future__ import annotations

from typing import Any

from devices.models import DeviceProfile
from plugboard.property_dialect import iso_date


def profile_json(profile: DeviceProfile) -> dict[str, Any]:
    """`baseProfile` is the base's name (as a create names it), `baseProfileId` its id."""
    base = profile.base_profile
    return {
        "id": profile.id,
        "accountId": profile.account_id,
        "name": profile.name,
        "friendlyName": profile.friendly_name or profile.name,
        "baseProfile": base.name if base else None,
        "baseProfileId": base.id if base else None,
        "description": profile.description,
        "tags": profile.tags or [],
        "deviceClass": profile.device_class or None,
        "productName": profile.product_name or None,
        "vendorName": profile.vendor_name or None,
        "version": profile.version or None,
        "imageUrl": profile.image_url or None,
        "system": False,
        "locked": False,
        "dateCreated": iso_date(profile.date_created),
        "dateModified": iso_date(profile.date_modified),
    }
