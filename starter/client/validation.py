"""Messages validated with their models before they are sent, and put on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from starter.errors import InvalidInput
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import check_order_id

M = TypeVar("M", bound=BaseModel)


def validate_message(model: type[M], message: M | Mapping[str, Any], what: str) -> M:
    """``message`` validated by ``model``; InvalidInput naming the field if it is wrong.

    A model instance is validated again from its data: it may have been built with
    ``model_construct`` or changed after construction.
    """
    data = message.model_dump(by_alias=True) if isinstance(message, BaseModel) else message
    if not isinstance(data, Mapping):
        raise InvalidInput(f"invalid {what}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise InvalidInput(f"invalid {what}: {describe_validation_error(error)}") from None


def wire(message: BaseModel) -> dict[str, Any]:
    """The camelCase JSON object sent to the workflow."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def checked_order_id(order_id: str) -> str:
    try:
        return check_order_id(order_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput(str(error)) from None
