"""Strict wire types for the HTTP API's JSON bodies (CONTRACT.md, "Wire types").

FastAPI reads a body laxly ("yes" as true, "50" as 50, a number as a date); the models
must stay lax for the histories of running orders. So every JSON body is read once more,
in pydantic's strict mode on the JSON as sent, and refused with 400 naming the field.

JSON has one kind of number: ``50.0`` is the integer 50 (as JSON Schema, and so the
OpenAPI document, says), while ``50.5``, ``"50"`` and ``true`` are no integer.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

_ADAPTERS: dict[int, TypeAdapter[Any]] = {}


def _adapter(route: APIRoute) -> TypeAdapter[Any] | None:
    field = route.body_field
    if field is None:
        return None
    key = id(route)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(field.field_info.annotation)
    return _ADAPTERS[key]


async def strict_json_body(request: Request) -> None:
    """A dependency of every route: its JSON body, if any, read without coercion."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or request.method not in ("POST", "PATCH", "PUT"):
        return
    if "json" not in request.headers.get("content-type", "").lower():
        return  # forms (the check-in page) and bodies FastAPI refuses on its own
    adapter = _adapter(route)
    raw = await request.body()
    if adapter is None or not raw.strip():
        return
    try:
        text: str | bytes = json.dumps(json.loads(raw, parse_float=_number), allow_nan=False)
    except (ValueError, RecursionError):
        text = raw  # not JSON, or not numbers JSON has: refused below as pydantic reads it
    try:
        adapter.validate_json(text, strict=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: an integer when it is whole."""
    number = float(text)
    return int(number) if number.is_integer() else number
