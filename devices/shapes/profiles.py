"""Device and app profiles on the wire (SPEC §6 "Fleets"): a profile's create and change bodies
and the profile answer (every key present, `null` where there is no value). The properties a
profile declares are `devices.shapes.properties`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rest_framework import serializers

from devices.services.management import KEEP
from devices.services.profiles import ProfileFields
from devices.shapes.base import READ_ONLY, Answer, Body, Moment, Text
from devices.shapes.devices import Name

# v3 word → ProfileFields field (the `source` of each body field).
PROFILE_FIELDS = {
    "name": "name",
    "friendlyName": "friendly_name",
    "description": "description",
    "tags": "tags",
    "deviceClass": "device_class",
    "productName": "product_name",
    "vendorName": "vendor_name",
    "version": "version",
    "imageUrl": "image_url",
    "baseProfile": "base_profile",
}


def _text(**kwargs: Any) -> Text:
    return Text(required=False, allow_blank=True, allow_null=True, **kwargs)


class ProfileIn(Body):
    """`POST /v3/deviceprofiles` and `/v3/appprofiles`: read into `ProfileFields` (`fields_of`).
    Sent back unchanged from a GET: `baseProfileId` (read as `baseProfile` when that is absent),
    `system` and `locked` (Connio's flags for profiles of its own; none here is either)."""

    echoed = READ_ONLY | {"locked", "baseProfileId", "system"}

    name = Name()
    friendlyName = _text(source="friendly_name")
    description = _text()
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    deviceClass = _text(source="device_class")
    productName = _text(source="product_name")
    vendorName = _text(source="vendor_name")
    version = _text()
    imageUrl = _text(source="image_url", help_text="an http(s) URL")
    baseProfile = _text(source="base_profile", help_text="a profile id or name")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and "baseProfile" not in data and "baseProfileId" in data:
            data = {**data, "baseProfile": data["baseProfileId"]}
        return super().to_internal_value(data)

    @classmethod
    def fields_of(cls, request: Any) -> ProfileFields:
        body = cls.read(request)
        return ProfileFields(**{field: body.get(field, KEEP) for field in PROFILE_FIELDS.values()})

    class Meta:
        ref_name = "DeviceProfileIn"


class ProfileChange(ProfileIn):
    """`PUT /v3/deviceprofiles/{ref}` and `/v3/appprofiles/{ref}`: changes what the body names."""

    name = Name(required=False)

    class Meta:
        ref_name = "DeviceProfileChange"


class ProfileAnswer(Answer):
    """A device or app profile; `baseProfile` is the base's name (as a create names it),
    `baseProfileId` its id."""

    id = serializers.CharField()
    accountId = serializers.CharField(source="account_id")
    name = serializers.CharField()
    friendlyName = serializers.CharField()
    baseProfile = serializers.CharField(allow_null=True, help_text="the base profile's name")
    baseProfileId = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    deviceClass = serializers.CharField(allow_null=True)
    productName = serializers.CharField(allow_null=True)
    vendorName = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    imageUrl = serializers.CharField(allow_null=True)
    system = serializers.BooleanField(help_text="always false: no profile here is the platform's own")
    locked = serializers.BooleanField()
    dateCreated = Moment(source="date_created", allow_null=True)
    dateModified = Moment(source="date_modified", allow_null=True)

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "friendlyName": lambda p: p.friendly_name or p.name,
        "baseProfile": lambda p: p.base_profile.name if p.base_profile else None,
        "baseProfileId": lambda p: p.base_profile.id if p.base_profile else None,
        "tags": lambda p: p.tags or [],
        "deviceClass": lambda p: p.device_class or None,
        "productName": lambda p: p.product_name or None,
        "vendorName": lambda p: p.vendor_name or None,
        "version": lambda p: p.version or None,
        "imageUrl": lambda p: p.image_url or None,
        "system": lambda p: False,
        "locked": lambda p: False,
    }

    class Meta:
        ref_name = "DeviceProfile"
