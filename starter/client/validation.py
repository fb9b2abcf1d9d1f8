"""Messages validated with their models before they are sent, and put on the wire."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from starter.errors import InvalidInput
from workflows.domain.instants import iso_duration
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import check_order_id

M = TypeVar("M", bound=BaseModel)


def validate_message(model: type[M], message: M | Mapping[str, Any], what: str) -> M:
    """``message`` validated by ``model``; InvalidInput naming the field if it is wrong.

    A model instance is validated again from its data: it may have been built with
    ``model_construct`` or changed after construction.
    """
    data = (
        message.model_dump(mode="json", by_alias=True)
        if isinstance(message, BaseModel)
        else message
    )
    if not isinstance(data, Mapping):
        raise InvalidInput(f"invalid {what}: expected a JSON object, got {type(data).__name__}")
    try:
        # Strict wire types at every entry: nothing coerced (CONTRACT.md, "Wire types").
        # Dates and durations given as Python objects are written as ISO 8601 first.
        text = json.dumps(dict(data), default=_iso_8601)
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise InvalidInput(f"invalid {what}: {describe_validation_error(error)}") from None


def _iso_8601(value: Any) -> str:
    """A Python date, time or duration as the ISO 8601 text the wire carries."""
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def wire(message: BaseModel) -> dict[str, Any]:
    """The camelCase JSON object sent to the workflow."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def checked_order_id(order_id: str) -> str:
    try:
        return check_order_id(order_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput(str(error)) from None
