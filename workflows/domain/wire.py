"""The base of every model on the wire: camelCase JSON, unknown fields refused."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Base of every model on the wire: camelCase JSON, unknown fields refused.

    Refusing unknown fields turns a typo ("percentComplet") into a clear error instead
    of a silently ignored value.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        ser_json_timedelta="iso8601",
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


Wire = TypeVar("Wire", bound=BaseModel)


def from_wire(
    model: type[Wire], payload: Any, strict: bool, context: dict[str, Any] | None = None
) -> Wire:
    """``payload`` (decoded JSON) as ``model``.

    ``strict`` (rules 5, and every entry) is pydantic's strict mode on the JSON as sent:
    a boolean is a JSON boolean, a number a JSON number, a date or a duration an ISO 8601
    string; nothing is coerced ("yes" is no ``true``, "50" no 50, 7 no duration). Without
    it, the lax validation the runs before rules 5 were made with, which their replay
    must repeat. ``context`` is pydantic's validation context, for the validators that
    read one.
    """
    if not strict:
        return model.model_validate(payload, context=context)
    return model.model_validate_json(
        json.dumps(payload, default=_not_json), strict=True, context=context
    )


def _not_json(value: object) -> dict[str, str]:
    """A value JSON has no type for (bytes from a binary payload): an object no field of a
    wire model accepts, so it is refused by validation, naming where it was."""
    return {"notJson": type(value).__name__}
