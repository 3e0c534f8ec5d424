"""Properties on the wire (SPEC §6): a property's create body (a device's, an app's, a profile's
declaration alike), its change (PUT replaces the settings, PATCH changes what it names) and the
property answer. Connio's other spellings (`dataType`, `accessType`, `publishType`), its older
`boundaries.range` and top-level `min`/`max` are read here as the settings they mean."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devices.models import Property
from devices.services.management import KEEP
from devices.shapes.base import (
    ABSENT,
    READ_ONLY,
    Answer,
    Body,
    Moment,
    Number,
    Retention,
    RetentionAnswer,
    Text,
    Word,
)
from plugboard.errors import ApiError
from plugboard.schema import AnyJson

# Connio's property type words, and the nearest type of the one data model.
PROPERTY_TYPES = {
    **{t: t for t in Property.Type.values},
    "integer": Property.Type.NUMBER,
    "float": Property.Type.NUMBER,
    "enum": Property.Type.STRING,
    "waypoint": Property.Type.OBJECT,
    "location": Property.Type.OBJECT,
}
PROPERTY_TYPE_WORDS = sorted(PROPERTY_TYPES)
TYPE_WORDS = {word: PROPERTY_TYPES[word] for word in PROPERTY_TYPE_WORDS}
DEFAULTS = {"type": "any", "access": "protected", "publish": "always"}


class MeasurementUnit(Answer):
    label = serializers.CharField(required=False, allow_null=True)  # type: ignore[assignment]  # a field named type
    symbol = serializers.CharField(required=False, allow_null=True)

    class Meta:
        ref_name = "MeasurementUnit"


class Measurement(Answer):
    """What a property measures, descriptive: no point is checked against it."""

    type = serializers.CharField(required=False, allow_null=True, help_text="such as temperature")
    unit = MeasurementUnit(required=False, allow_null=True)

    class Meta:
        ref_name = "Measurement"


@extend_schema_field(Measurement)
class MeasurementIn(serializers.JSONField):
    """Read as sent: `devices.services.management.measurement_field` checks it (one rule for
    the API and the console)."""


class Bounds(Body):
    """`{min?, max?}`, or Connio's older `{range: {min?, max?}}`."""

    echoed = frozenset({"range"})

    min = Number(required=False, allow_null=True)
    max = Number(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("range"), dict):
            data = data["range"]
        return super().to_internal_value(data)

    class Meta:
        ref_name = "BoundariesIn"


class PropertyIn(Body):
    """`POST /v3/devices/{ref}/properties`, `POST /v3/properties?owner=`: a property and its
    settings; what the body leaves out (or sends as null) is the default (`settings_of`)."""

    # Sent back from a property's answer (or the owner in a create): ignored.
    echoed = READ_ONLY | {"ownerId", "qualifiedName", "locked", "inherited"}

    name = Text(help_text="a property name (may hold /)")
    # Connio's other spellings first: the usual word wins when both are sent.
    dataType = Word(
        TYPE_WORDS, required=False, allow_null=True, source="type", help_text="Connio's word for type"
    )
    accessType = serializers.ChoiceField(
        Property.Access.values,
        required=False,
        allow_null=True,
        source="access",
        help_text="Connio's word for access",
    )
    publishType = serializers.ChoiceField(
        Property.Publish.values,
        required=False,
        allow_null=True,
        source="publish",
        help_text="Connio's word for publish",
    )
    type = Word(TYPE_WORDS, required=False, allow_null=True, help_text="default any")
    access = serializers.ChoiceField(
        Property.Access.values, required=False, allow_null=True, help_text="default protected"
    )
    publish = serializers.ChoiceField(
        Property.Publish.values, required=False, allow_null=True, help_text="default always"
    )
    boundaries = Bounds(required=False, allow_null=True)
    min = Number(required=False, allow_null=True)
    max = Number(required=False, allow_null=True)
    retention = Retention(required=False, allow_null=True, help_text="how long points are kept")
    description = Text(required=False, allow_blank=True, allow_null=True)
    friendlyName = Text(
        required=False, allow_blank=True, allow_null=True, max_length=120, source="friendly_name"
    )
    tags = serializers.ListField(child=Text(), required=False, allow_null=True)
    measurement = MeasurementIn(required=False, allow_null=True)

    @classmethod
    def settings_of(cls, body: dict[str, Any], *, merge: bool) -> dict[str, Any]:
        """The settings in plug words; what the body leaves out is the default, or `KEEP` with
        `merge` (PATCH). `null` is the default either way."""
        settings: dict[str, Any] = {}
        for field, default in DEFAULTS.items():
            if field in body:
                settings[field] = body[field] if body[field] is not None else default
            elif not merge:
                settings[field] = default
        missing: Any = KEEP if merge else None
        bounds = body.get("boundaries", ABSENT)
        if bounds is ABSENT:
            low, high = body.get("min", missing), body.get("max", missing)
        elif bounds is None:  # none, unless top-level ones are given
            low, high = body.get("min"), body.get("max")
        else:
            low, high = bounds.get("min", missing), bounds.get("max", missing)
        for field, bound in (("min", low), ("max", high)):
            if bound is not KEEP:
                settings[field] = bound
        if "retention" in body or not merge:
            settings["retention"] = body.get("retention")
        if "description" in body or not merge:
            settings["description"] = body.get("description") or ""
        if "friendly_name" in body or not merge:
            settings["friendly_name"] = body.get("friendly_name") or ""
        if "tags" in body or not merge:
            settings["tags"] = body.get("tags") or []
        if "measurement" in body or not merge:
            settings["measurement"] = body.get("measurement")
        return settings

    @classmethod
    def definition(cls, request: Any) -> dict[str, Any]:
        body = cls.read(request)
        if not body["name"]:
            raise ApiError(400, "name is required and must be a string")
        return {"name": body["name"], **cls.settings_of(body, merge=False)}

    class Meta:
        ref_name = "PropertyIn"


class PropertyChange(PropertyIn):
    """`PUT` (every setting the body leaves out goes back to its default) or `PATCH` (only what
    it names changes) of a property's settings. The name may be sent back as it is, never
    changed: it is the channel the points are written to."""

    name = Text(required=False, allow_null=True)

    @classmethod
    def changes(cls, request: Any, *, current_name: str, merge: bool) -> dict[str, Any]:
        body = cls.read(request)
        name = body.get("name")
        if name is not None and name.lower() != current_name.lower():
            raise ApiError(400, f"a property's name cannot change (it is {current_name!r})")
        return cls.settings_of(body, merge=merge)

    class Meta:
        ref_name = "PropertyChange"


# --- the answer -------------------------------------------------------------------------------------


class BoundsAnswer(Answer):
    min = Number(allow_null=True, required=False)
    max = Number(allow_null=True, required=False)

    class Meta:
        ref_name = "Boundaries"


def _bounds(prop: Any) -> Any:
    if prop.min is None and prop.max is None:
        return ABSENT
    return {"min": prop.min, "max": prop.max}


class PropertyAnswer(Answer):
    """A property (a device's or an app's, or one a profile declares); the view gives its owner's
    `accountId`, `ownerId` and `qualifiedName` (Connio qualifies a property by its profile; a
    plug is its own profile here): `of_plug`, `of_profile`."""

    id = serializers.CharField()
    accountId = serializers.CharField()
    ownerId = serializers.CharField(help_text="the device")
    name = serializers.CharField()
    friendlyName = serializers.CharField()
    qualifiedName = serializers.CharField()
    type = serializers.ChoiceField(Property.Type.values)
    access = serializers.CharField(help_text="private, protected or public")
    publish = serializers.CharField(help_text="always, changed or never")
    retention = RetentionAnswer(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=AnyJson())
    measurement = Measurement(allow_null=True)
    inherited = serializers.BooleanField()
    locked = serializers.BooleanField()
    dateCreated = Moment(source="date_created", allow_null=True)
    dateModified = Moment(source="date_modified", allow_null=True)
    boundaries = BoundsAnswer(required=False)

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "friendlyName": lambda prop: prop.friendly_name or prop.name,
        "retention": lambda prop: prop.retention or None,
        "tags": lambda prop: prop.tags or [],
        # A copy of its device profile's declaration (devices.services.profiles).
        "inherited": lambda prop: getattr(prop, "inherited_from_id", None) is not None,
        "locked": lambda prop: False,
        "boundaries": _bounds,
    }

    @classmethod
    def of_plug(cls, prop: Any, *, plug: Any) -> dict[str, Any]:
        return cls.show(
            prop, accountId=plug.account_id, ownerId=plug.id, qualifiedName=f"{plug.name}${prop.name}"
        )

    @classmethod
    def of_profile(cls, prop: Any, *, profile: Any) -> dict[str, Any]:
        return cls.show(
            prop,
            accountId=profile.account_id,
            ownerId=profile.id,
            qualifiedName=f"{profile.name}${prop.name}",
        )

    class Meta:
        ref_name = "Property"
