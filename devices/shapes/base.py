"""What every declared wire shape is made of (`devices.shapes`): the body and answer bases and
the fields Connio's words need (a string never coerced from a number, a whole number never read
from `true`, a word read as what it means, a retention in any of its three spellings)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from devices.services.fields import MAX_RETENTION_SECONDS
from plugboard.errors import ApiError
from plugboard.parsers import is_json_number
from plugboard.property_dialect import iso_date
from plugboard.schema import AnyJson

# Fields of a response object a client may send back unchanged (GET, edit, PUT); ignored.
READ_ONLY = frozenset(
    {"id", "accountId", "dateCreated", "dateModified", "connected", "lastSeen", "transport"}
)

LIFETIME_RE = re.compile(r"^\s*(\d+)\s*([smhdwMy]?)\s*$")
LIFETIME_UNITS = {
    "": 1,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,
    "y": 365 * 86400,
}
UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def body_object(request: Request) -> dict[str, Any]:
    if request.data is None:
        raise ApiError(400, "a JSON object body is required")
    if not isinstance(request.data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return request.data


def _seconds(value: Any, field: str) -> int:
    if is_json_number(value) and value == int(value):
        return int(value)
    if isinstance(value, str) and (match := LIFETIME_RE.match(value)):
        return int(match.group(1)) * LIFETIME_UNITS[match.group(2)]
    raise ApiError(400, f'{field} must be seconds or a duration such as "30d", "12h", "15m", "45s"')


def retention_seconds(value: Any, field: str = "retention") -> int | None:
    """Seconds, `"30d"`, or Connio's `{"type": "historical"|"time", "lifetime"|"value": …}`."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") not in (None, "historical", "time"):
            raise ApiError(400, f"{field}: only time-based retention (a lifetime) is supported")
        lifetime = value.get("lifetime", value.get("value"))
        if lifetime is None:
            raise ApiError(400, f'{field} needs a lifetime, such as {{"lifetime": "30d"}}')
        seconds = _seconds(lifetime, f"{field}.lifetime")
    else:
        seconds = _seconds(value, field)
    if not 0 < seconds <= MAX_RETENTION_SECONDS:
        raise ApiError(400, f"{field} must be 1..{MAX_RETENTION_SECONDS} seconds")
    return seconds


def lifetime_text(seconds: int) -> str:
    """`2592000` → `"30d"`: the largest unit that divides the retention exactly."""
    for suffix, size in UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"  # unreachable: every integer is a whole number of seconds


# --- fields ---------------------------------------------------------------------------------------


class Text(serializers.CharField):
    """A JSON string: a number or a boolean is refused, not turned into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Email(serializers.EmailField):
    """An email address, as a JSON string (the services check it again and lower its case)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "description": "seconds"},
            {"type": "string", "description": 'a duration: "30d", "12h", "15m", "45s"'},
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["historical", "time"]},
                    "lifetime": {"type": "string"},
                },
                "description": 'Connio\'s form: {"type": "historical", "lifetime": "30d"}',
            },
        ],
        "nullable": True,
    }
)
class Retention(serializers.JSONField):
    """Seconds, a duration such as `"30d"`, or Connio's `{"type": "historical", "lifetime"}`;
    read as seconds."""

    def to_internal_value(self, data: Any) -> Any:
        return retention_seconds(data, self.field_name or "retention")


class Word(serializers.ChoiceField):
    """One of a few words, read as what it means (`{"active": True, …}`); `aliases` are other
    spellings read too but not documented (a misspelling an SDK sends)."""

    def __init__(self, words: dict[str, Any], aliases: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.meanings = words
        self.aliases = aliases or {}
        super().__init__(list(words), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data in self.aliases:
            return self.aliases[data]
        return self.meanings[super().to_internal_value(data)]


class Whole(serializers.IntegerField):
    """A JSON whole number: `true` or `"5"` is refused, not read as 1 or 5."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class Flag(serializers.BooleanField):
    """A JSON boolean: `1` or `"true"` is refused, not read as true."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class Number(serializers.FloatField):
    """A JSON number, kept as sent (an integer stays one) and answered as stored."""

    def to_internal_value(self, data: Any) -> Any:
        if not is_json_number(data):
            self.fail("invalid")
        super().to_internal_value(data)  # the bounds
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class Moment(serializers.CharField):
    """A moment in an answer: ISO 8601 with milliseconds, `Z` for UTC."""

    def to_representation(self, value: Any) -> str:
        return iso_date(value) or ""  # None never reaches here: `Answer.show` answers it as null


# --- bodies and answers ---------------------------------------------------------------------------


class Body(serializers.Serializer):
    """A JSON object body naming only the fields declared, or the read-only fields of the object
    a client sends back unchanged from a GET (`echoed`, ignored)."""

    echoed: frozenset[str] = READ_ONLY

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, f"{self.field_name or 'the body'} must be a JSON object")
        unknown = sorted(set(data) - set(self.fields) - self.echoed)
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
        return dict(super().to_internal_value(data))

    @classmethod
    def read(cls, request: Request, **context: Any) -> dict[str, Any]:
        """The request's body in plug words (`source`), only the fields it names."""
        shape = cls(data=body_object(request), context=context)
        shape.is_valid(raise_exception=True)
        return dict(shape.validated_data)


ABSENT: Any = object()  # a computed value that leaves its key out of the answer


class Answer(serializers.Serializer):
    """An object as the API answers it: `show(row, **given)` produces the answer through the
    declared fields (each reads its `source`, or its function in `computed`, or the value the
    view gives by name, such as a secret shown once), so what drf-spectacular documents is what
    is sent. The bound fields are made once per class, not per object."""

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    _steps: ClassVar[list[tuple[str, serializers.Field, Callable[[Any], Any] | None]]]

    @classmethod
    def show(cls, row: Any, **given: Any) -> dict[str, Any]:
        steps = cls.__dict__.get("_steps")
        if steps is None:
            steps = [(name, field, cls.computed.get(name)) for name, field in cls().fields.items()]
            cls._steps = steps
        answer: dict[str, Any] = {}
        for name, field, compute in steps:
            if name in given:
                value = given[name]
            elif compute is not None:
                value = compute(row)
            elif isinstance(row, dict) and not field.required and field.source not in row:
                continue  # an optional key the row does not hold
            else:
                value = field.get_attribute(row)
            if value is ABSENT:
                continue
            answer[name] = None if value is None else field.to_representation(value)
        return answer

    def to_representation(self, instance: Any) -> dict[str, Any]:  # as a nested field
        return type(self).show(instance)


class RetentionAnswer(Answer):
    """A retention in an answer (a property's, an account's default), from its seconds."""

    type = serializers.CharField()
    context = serializers.DictField(child=AnyJson())  # type: ignore[assignment]
    lifetime = serializers.CharField(help_text='such as "30d"')
    seconds = serializers.IntegerField()

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "type": lambda seconds: "historical",
        "context": lambda seconds: {"type": "default"},
        "lifetime": lifetime_text,
        "seconds": lambda seconds: seconds,
    }

    class Meta:
        ref_name = "Retention"
