"""TMF Error objects, and how every failure becomes one.

Each answer that is not a success is ``{"code", "reason", "message", "status"}`` (TMF630's
Error). The client API's typed errors map to statuses here, in one table: bad input is
400, an unknown order 404, a conflict with the order's state 409, and everything that
passes (Temporal unreachable, no worker answering, a run at its limits) 503 with
``Retry-After``, so a caller knows to try again rather than seeing a 500.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from starter.api.limits import BodyTooLarge
from starter.client import (
    InvalidInput,
    NoAnswer,
    OrderAlreadyTracked,
    OrderBusy,
    OrderClosed,
    OrderNotFound,
    PartyOrderError,
    RejectedByOrder,
    ServerUnavailable,
    UpdateRejected,
)
from workflows.domain.model import WireModel

log = logging.getLogger(__name__)

# Seconds a caller should wait before retrying a 503.
RETRY_AFTER_SECONDS = 5


class Error(WireModel):
    """A TMF630 Error."""

    code: str
    reason: str
    message: str
    status: str


class ApiError(Exception):
    """A failure with its HTTP status, raised anywhere in the API."""

    def __init__(
        self, status: int, code: str, reason: str, message: str, headers: dict[str, str] | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.reason = reason
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalidInput", "Bad request", message, None)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized", message, {"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", "Forbidden", message, None)


def not_found(order_id: str) -> ApiError:
    # One text for an unknown order and for another party's: the answer tells nothing apart.
    return ApiError(404, "notFound", "Not found", f"no party order {order_id} was found", None)


def too_many_requests(wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429, "tooManyRequests", "Too many requests",
        f"this API key is over its rate limit; retry after {seconds}s",
        {"Retry-After": str(seconds)},
    )  # fmt: skip


def unavailable(message: str) -> ApiError:
    return ApiError(
        503,
        "unavailable",
        "Service unavailable",
        message,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def from_client_error(error: PartyOrderError, order_id: str | None = None) -> ApiError:
    """The HTTP answer for one of the client API's errors."""
    if isinstance(error, InvalidInput):
        return bad_request(str(error))
    if isinstance(error, OrderNotFound):
        return not_found(order_id or "?")
    if isinstance(error, OrderAlreadyTracked | OrderClosed | UpdateRejected | RejectedByOrder):
        return ApiError(409, "conflict", "Conflict", str(error), None)
    if isinstance(error, ServerUnavailable | NoAnswer | OrderBusy):
        return unavailable(str(error))
    # Anything else the client reports is Temporal answering unexpectedly: it passes.
    return unavailable(str(error))


def error_response(error: ApiError) -> JSONResponse:
    body = Error(
        code=error.code, reason=error.reason, message=error.message, status=str(error.status)
    )
    return JSONResponse(body.to_json_dict(), status_code=error.status, headers=error.headers)


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "party", "id")`` as ``party.id``; query parameters keep their name."""
    parts = [str(part) for part in location]
    if (parts and parts[0] == "body") or (parts and parts[0] in ("query", "path", "header")):
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def describe_request_errors(error: RequestValidationError) -> str:
    problems = []
    for item in error.errors():
        if item.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON: {item.get('ctx', {}).get('error', '')}")
            continue
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{field_path(item.get('loc', ()))}: {message}")
    return "; ".join(problems) or "invalid request"


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at the request's path (RFC 9110: ``Allow`` of a 405
    lists them all, not only the first route's)."""
    path = request.scope.get("path", "")

    def methods_of(routes: Iterable[Any], prefix: str) -> set[str]:
        found: set[str] = set()
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:  # a router included in the app: its own routes
                context = getattr(route, "include_context", None)
                found |= methods_of(included.routes, prefix + getattr(context, "prefix", ""))
                continue
            regex = getattr(route, "path_regex", None)
            if regex is not None and path.startswith(prefix) and regex.match(path[len(prefix) :]):
                found |= set(getattr(route, "methods", None) or ())
        return found

    return sorted(methods_of(request.app.router.routes, ""))


def install(app: FastAPI) -> None:
    """Answer every failure with a TMF Error."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(PartyOrderError)
    async def _client_error(request: Request, error: PartyOrderError) -> JSONResponse:
        return error_response(from_client_error(error, request.path_params.get("order_id")))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        message = describe_request_errors(error)
        content_type = request.headers.get("content-type", "")
        if request.method in ("POST", "PATCH") and "json" not in content_type.lower():
            # FastAPI reads a body as JSON only when it is declared so.
            message += " (send the body as JSON, with Content-Type: application/json)"
        return error_response(bad_request(message))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.__cause__, BodyTooLarge):  # FastAPI wraps body read failures
            return error_response(bad_request(f"(body): {error.__cause__}"))
        # Routing's own answers (unknown path 404, wrong method 405) in the same shape.
        reason = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "Error")
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(
            ApiError(
                error.status_code,
                reason[0].lower() + reason.title().replace(" ", "")[1:],
                reason,
                str(error.detail),
                headers,
            )
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged without the request's headers: they carry the caller's key.
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(
            ApiError(500, "internalError", "Internal error", "unexpected error", None)
        )
