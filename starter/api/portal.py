"""The check-in page: a party answers a check-in through the link it was sent.

``GET /portal/partyOrder/{id}/checkIn?token=...`` shows a small HTML form (server-rendered,
no JavaScript): percent complete, milestones reached, a forecast date, each item's state
when the order's items have states, a note. ``POST`` to the same path (the token in the
form, never in a header or cookie) sends ``report_progress`` with source ``party`` through
the client API and shows the order's new state, or the order's reason for refusing it.

The token (see activities/portal.py) is the only credential: it names one order and one
party and ends with the check-in's response window. Because a forged or stale form cannot
carry a valid token, it is also what keeps another site from posting the form (CSRF).
Every failure is a page in words with its status: 403 for a tampered link or one for
another order, 410 for an expired one, 400 (the form again, the field named) for bad input.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from activities.portal import (
    PORTAL_PATH,
    TOKEN_PARAMETER,
    PortalClaims,
    PortalLinkError,
    PortalSettings,
    RedactPortalTokens,
    read_token,
)
from starter.client import (
    OrderClosed,
    OrderNotFound,
    PartyOrderClient,
    PartyOrderError,
    RejectedByOrder,
)
from workflows.domain.messages import ProgressReport
from workflows.domain.model import MilestoneStatus, OrderState, PartyOrder
from workflows.domain.party_view import party_view

log = logging.getLogger(__name__)
# uvicorn's access log prints each request's query: the link's token must not be in it.
logging.getLogger("uvicorn.access").addFilter(RedactPortalTokens())

TEMPLATES = Path(__file__).parent / "templates" / "portal"
_pages = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# The states a party may report for one item (the contract's item states).
ITEM_STATES = ("acknowledged", "inProgress", "pending", "held", "completed", "cancelled", "failed")

# The order's, an item's and a milestone's states in a supplier's words, not the wire's.
STATE_NAMES = {
    "acknowledged": "Acknowledged, work not started",
    "inProgress": "In progress",
    "pending": "Pending",
    "held": "On hold",
    "pendingCancellation": "Being cancelled",
    "cancelled": "Cancelled",
    "completed": "Completed",
    "failed": "Failed",
    "partial": "Partly delivered",
    "yetToReach": "Not reached yet",
    "violated": "Overdue",
}


def state_name(state: object) -> str:
    """A state in words (``inProgress``: "In progress"); an unknown one as it is."""
    value = str(getattr(state, "value", state))
    return STATE_NAMES.get(value, value)


def long_date(when: datetime | date | None) -> str:
    """A date as people read it, with no doubt about day and month: "8 January 2027"."""
    return "" if when is None else f"{when.day} {when:%B %Y}"


_pages.filters["state_name"] = state_name
_pages.filters["long_date"] = long_date

# Field names of the form, by the report's camelCase field they fill.
LABELS = {
    "percentComplete": "Percent complete",
    "milestones": "Milestones reached",
    "expectedCompletionDate": "Forecast completion date",
    "orderItems": "Order items",
    "note": "Note",
    "requestId": "Request",
}

# Pages carry a token in their address: never cached, never sent on as a Referer, never
# framed by another site.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}

MAX_FORM_FIELDS = 500

router = APIRouter()


def page(name: str, status: int, **context: Any) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(name).render(context), status, headers=_HEADERS)


def refusal(status: int, title: str, message: str) -> HTMLResponse:
    return page("refused.html", status, title=title, message=message)


def link_refusal(error: PortalLinkError) -> HTMLResponse:
    title = "This link has expired" if error.status == 410 else "This link cannot be used"
    return refusal(
        error.status,
        title,
        f"{str(error).capitalize()}. Answer from the newest check-in we sent you,"
        " or ask your contact for a new link.",
    )


@dataclass
class Form:
    """What was entered, as the form shows it again (strings, unparsed)."""

    percent: str = ""
    milestones: list[str] = field(default_factory=list)
    forecast: str = ""
    items: dict[str, str] = field(default_factory=dict)
    note: str = ""
    request_id: str = ""


def form_page(
    order: PartyOrder,
    token: str,
    claims: PortalClaims,
    form: Form,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    items = [
        {"id": item.id, "description": item.description, "state": state}
        for item in order.order_items
        # An item is reported on its own once it is tracked on its own (it has a state).
        if (state := item.state) is not None
    ]
    return page(
        "checkin.html",
        status,
        order=order,
        last_note=order.notes[-1] if order.notes else None,
        token=token,
        expires_at=claims.expires_at,
        example_date=f"{order.due_date:%Y-%m-%d}",
        form=form,
        errors=errors or {},
        labels=LABELS,
        items=items,
        item_states=ITEM_STATES,
        reached=MilestoneStatus.COMPLETED,
        action=PORTAL_PATH.format(order_id=order.id),
    )


async def _client(request: Request) -> PartyOrderClient:
    client: PartyOrderClient = await request.app.state.clients.get()
    return client


async def _open(
    request: Request, order_id: str, token: str
) -> tuple[PortalClaims, PartyOrder] | HTMLResponse:
    """The link's claims and the order, or the page refusing it."""
    settings: PortalSettings | None = request.app.state.portal
    if settings is None:
        return refusal(404, "Check-in links are off", "This service does not take check-in links.")
    try:
        claims = read_token(settings.secret, token, order_id, datetime.now(UTC))
    except PortalLinkError as error:
        return link_refusal(error)
    if request.app.state.rate_limiter.take(f"portal:{order_id}") > 0:
        return refusal(429, "Too many requests", "Please wait a minute and try again.")
    try:
        order = party_view(await (await _client(request)).get(order_id))
    except OrderNotFound:
        return refusal(404, "Order not found", f"We no longer track order {order_id}.")
    if order.party.id != claims.party_id or (  # tracked again since
        claims.tracking_id is not None and claims.tracking_id != order.tracking_id
    ):
        return link_refusal(
            PortalLinkError("this link was sent for an earlier tracking of this order")
        )
    return claims, order


@router.get(PORTAL_PATH, response_class=HTMLResponse, include_in_schema=False)
async def check_in_page(request: Request, order_id: str) -> HTMLResponse:
    token = request.query_params.get(TOKEN_PARAMETER, "")
    try:
        opened = await _open(request, order_id, token)
        if isinstance(opened, HTMLResponse):
            return opened
        claims, order = opened
        return form_page(order, token, claims, Form(request_id=str(uuid.uuid4())))
    except PartyOrderError as error:
        return _unavailable(error)


@router.post(PORTAL_PATH, response_class=HTMLResponse, include_in_schema=False)
async def submit_check_in(request: Request, order_id: str) -> HTMLResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return refusal(400, "Not a form", "Send the check-in page's form as it is.")
    try:
        fields = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        return refusal(400, "Not a form", "The form could not be read.")
    token = next((value for name, value in fields if name == TOKEN_PARAMETER), "")
    try:
        opened = await _open(request, order_id, token)
        if isinstance(opened, HTMLResponse):
            return opened
        claims, order = opened
        form = read_form(fields)
        report, errors = to_report(form, order)
        if report is None:
            return form_page(order, token, claims, form, 400, errors)
        client = await _client(request)
        try:
            await client.report_progress(order_id, report, confirm=True)
        except (RejectedByOrder, OrderClosed) as error:
            reason = error.rejection.error if isinstance(error, RejectedByOrder) else str(error)
            return page("result.html", 409, order=order, accepted=False, reason=reason)
        started = order.state == OrderState.ACKNOWLEDGED  # this report starts the work
        order = party_view(await client.get(order_id))
        started = started and order.state == OrderState.IN_PROGRESS
        return page("result.html", 200, order=order, accepted=True, reason=None, started=started)
    except PartyOrderError as error:
        return _unavailable(error)


def _unavailable(error: PartyOrderError) -> HTMLResponse:
    log.warning("check-in page: order tracking unavailable: %s", error)
    return refusal(
        503,
        "Please try again shortly",
        "Order tracking cannot be reached just now. Nothing was sent; try again in a minute.",
    )


def read_form(fields: list[tuple[str, str]]) -> Form:
    form = Form()
    for name, value in fields:
        if name == "percentComplete":
            form.percent = value.strip()
        elif name == "milestone":
            form.milestones.append(value)
        elif name == "expectedCompletionDate":
            form.forecast = value.strip()
        elif name.startswith("item:"):
            form.items[name.removeprefix("item:")] = value
        elif name == "note":
            form.note = value.strip()
        elif name == "requestId":
            form.request_id = value.strip()
    return form


def to_report(form: Form, order: PartyOrder) -> tuple[ProgressReport | None, dict[str, str]]:
    """The progress report the form asks for, or the errors by field."""
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {"source": "party", "requestId": form.request_id or None}
    if form.percent:
        try:
            payload["percentComplete"] = int(form.percent)
        except ValueError:
            errors["percentComplete"] = "enter a whole number from 0 to 100"
    known = {milestone.id for milestone in order.milestones}
    unknown = [milestone for milestone in form.milestones if milestone not in known]
    if unknown:
        errors["milestones"] = f"this order has no milestone {', '.join(unknown)}"
    elif form.milestones:
        payload["milestones"] = [{"id": m, "status": "completed"} for m in form.milestones]
    if form.forecast:
        try:
            day = date.fromisoformat(form.forecast)
            payload["expectedCompletionDate"] = datetime.combine(day, time(), UTC).isoformat()
        except ValueError:
            errors["expectedCompletionDate"] = "enter a date as year-month-day, like 2027-01-20"
    current = {item.id: getattr(item, "state", None) for item in order.order_items}
    if unknown_items := [i for i in form.items if i not in current]:
        errors["orderItems"] = f"this order has no item {', '.join(unknown_items)}"
    elif changed := [(i, s) for i, s in form.items.items() if s and s != current[i]]:
        # Only items whose state was changed: the form shows every item's current state.
        payload["orderItems"] = [{"id": i, "state": s} for i, s in changed]
    if form.note:
        payload["note"] = form.note
    if errors:
        return None, errors
    if payload.keys() <= {"source", "requestId"}:
        return None, {
            "": "fill in at least one field: percent complete, a milestone reached,"
            " a forecast date or a note"
        }
    try:
        return ProgressReport.model_validate(payload), {}
    except ValidationError as error:
        return None, describe(error)


def describe(error: ValidationError) -> dict[str, str]:
    """Pydantic's errors by form field, in words; a form-wide one under ``""``."""
    errors: dict[str, str] = {}
    for item in error.errors():
        location = item.get("loc", ())
        name = str(location[0]) if location else ""
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if name == "percentComplete":
            message = "enter a whole number from 0 to 100"
        if name not in LABELS:
            name = ""  # about the report as a whole
        errors.setdefault(name, message)
    return errors
